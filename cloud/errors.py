"""The one error family of the cloud.

Layer: plain exception classes, imported by every cloud layer; no I/O here.
Storage catches psycopg's exceptions and re-raises these, so no bare database
error crosses the storage boundary; the API maps them to HTTP codes and the CLI
to exit codes::

    CloudError (Exception)              anything the cloud reports to its caller
    ├── ConfigError                     settings that cannot be used (names the variable)
    ├── MigrationError                  migration files or history that cannot be applied
    │   └── ChecksumMismatchError       an applied migration file was edited afterwards
    ├── IngestError                     the ingest worker cannot reach or use its broker
    ├── RemoteError                     a pushed config or command cannot be sent or is refused
    │   ├── BrokerUnreachableError      the broker cannot be reached (or none is configured)
    │   └── NoAnswerError               the gateway did not answer in time
    └── StorageError                    the database refused or failed an operation
        ├── StorageUnavailableError     cannot reach the database, or a transient failure
        │                               (deadlock, serialization): retry later
        ├── InvalidIdentifierError      a gateway id, tenant or site name outside the rules
        ├── GatewayExistsError          register_gateway for an id that is taken
        ├── UnknownGatewayError         a gateway id that is not registered
        ├── UnknownQuantityError        a batch names a quantity outside the vocabulary
        ├── SeqReusedError              a gateway sent other readings under a seq it used
        ├── SeriesNotFoundError         no series for (gateway, device, quantity)
        ├── InvalidValueError           a value outside its rules (role, region code, time zone …)
        └── NotFoundError               a key, grant, site or tenant that does not exist
                                        (or is outside the caller's scope)

Facts ride along as attributes (``gateway_id``, ``quantity``, ``name``) so
callers never parse messages. Messages never contain secrets.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error the cloud raises on purpose."""


class ConfigError(CloudError):
    """Settings that cannot be used; the message names the environment variable."""


class MigrationError(CloudError):
    """Migration files or the recorded history are inconsistent."""


class ChecksumMismatchError(MigrationError):
    """A migration file changed after it was applied to this database."""

    def __init__(self, name: str, recorded: str, current: str) -> None:
        super().__init__(
            f"{name} was changed after it was applied (recorded checksum {recorded[:12]}…, "
            f"file now {current[:12]}…); add a new migration instead of editing an applied one"
        )
        self.name = name
        self.recorded = recorded
        self.current = current


class IngestError(CloudError):
    """The ingest worker cannot reach or use its MQTT broker."""


class StorageError(CloudError):
    """The database refused or failed an operation."""


class StorageUnavailableError(StorageError):
    """The database cannot be reached, or failed transiently; the operation may be retried."""


class InvalidIdentifierError(StorageError):
    """An identifier that breaks the wire rules (1-64 of letters, digits, ``_.:-``)."""


class GatewayExistsError(StorageError):
    """A gateway with this id is already registered."""

    def __init__(self, gateway_id: str) -> None:
        super().__init__(f"gateway {gateway_id!r} is already registered")
        self.gateway_id = gateway_id


class UnknownGatewayError(StorageError):
    """No gateway with this id is registered."""

    def __init__(self, gateway_id: str) -> None:
        super().__init__(f"no gateway {gateway_id!r} is registered")
        self.gateway_id = gateway_id


class UnknownQuantityError(StorageError):
    """A batch names a quantity code that is not in ``quantities.yaml``."""

    def __init__(self, quantity: str) -> None:
        super().__init__(f"quantity {quantity!r} is not in the vocabulary")
        self.quantity = quantity


class SeqReusedError(StorageError):
    """A batch reuses a (gateway, seq) already stored with different content.

    Not a replay (that would be skipped): the gateway counted again from an old
    seq, e.g. after losing its outbox. Nothing of the batch is stored.
    """

    def __init__(self, gateway_id: str, seq: int) -> None:
        super().__init__(
            f"gateway {gateway_id!r} sent other readings under seq {seq}, already used"
        )
        self.gateway_id = gateway_id
        self.seq = seq


class SeriesNotFoundError(StorageError):
    """No series exists for this gateway, device and quantity."""

    def __init__(self, gateway_id: str, device: str, quantity: str) -> None:
        super().__init__(f"no series {quantity!r} for device {device!r} of gateway {gateway_id!r}")
        self.gateway_id = gateway_id
        self.device = device
        self.quantity = quantity


class InvalidValueError(StorageError):
    """A value outside its rules: an unknown role, a malformed region code, a bad time zone."""


class NotFoundError(StorageError):
    """A key, sharing grant, site or tenant that does not exist, or lies outside the scope.

    Attributes:
        kind: ``key``, ``grant``, ``site`` or ``tenant``.
        ident: what was asked for.
    """

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"no {kind} {ident!r}")
        self.kind = kind
        self.ident = ident


class RemoteError(CloudError):
    """A pushed config or a command cannot be sent, or its answer did not come in time."""


class BrokerUnreachableError(RemoteError):
    """The broker that carries configs and commands cannot be reached (or none is set)."""


class NoAnswerError(RemoteError):
    """The gateway did not answer within the timeout (it may be offline).

    Attributes:
        gateway_id: the gateway asked.
    """

    def __init__(self, gateway_id: str, message: str) -> None:
        super().__init__(message)
        self.gateway_id = gateway_id
