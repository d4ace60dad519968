"""What storage hands back: small frozen records, free of database types.

Layer: plain data. No SQL and no I/O here; the API turns these into response
models (``cloud.schemas``) and the CLI into text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_time_ms(time: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime (exact, no float)."""
    return (time - EPOCH) // _ONE_MS


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Outcome of :meth:`cloud.storage.Storage.store_batch`.

    Attributes:
        stored: readings written now; readings already present are not counted.
        duplicate: the batch (gateway, seq) had been stored before; nothing was written.
    """

    stored: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One reading as read back from the database; ``time`` is aware, in UTC."""

    time: datetime
    value: float
    quality: str

    @property
    def time_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        return to_time_ms(self.time)


@dataclass(frozen=True, slots=True)
class SeriesReadings:
    """Readings of one series in a time range, oldest first."""

    gateway_id: str
    device: str
    quantity: str
    unit: str
    readings: list[StoredReading] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rollup:
    """One hour or day of one series.

    Attributes:
        bucket: UTC start of the hour or day.
        mean: mean of the valid readings (quality ``N``); None if there were none.
        minimum: smallest valid reading, or None.
        maximum: largest valid reading, or None.
        count: readings in the bucket, whatever their quality.
        valid_count: readings of quality ``N``.
    """

    bucket: datetime
    mean: float | None
    minimum: float | None
    maximum: float | None
    count: int
    valid_count: int

    @property
    def valid_share(self) -> float:
        """Share of valid readings, 0 to 1."""
        return self.valid_count / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class SeriesRollups:
    """Hourly or daily rollups of one series in a time range, oldest first."""

    gateway_id: str
    device: str
    quantity: str
    unit: str
    period: str
    rollups: list[Rollup] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LatestReading:
    """The newest reading of one series of a gateway."""

    device: str
    quantity: str
    unit: str
    reading: StoredReading


@dataclass(frozen=True, slots=True)
class GatewaySummary:
    """A registered gateway as an operator sees it (never its secret).

    Attributes:
        presence: ``online``/``offline`` as last reported on ``up/status``, or None.
        presence_at: when that report was received.
        last_batch_at: when its newest accepted batch was received, or None.
        revoked_at: when it was revoked (its batches are dead-lettered), or None.
        previous_secret_until: until when its secret before the last rotation still
            verifies, or None.
        status_report: outbox counters, ``oldest_unsent_age_s``, ``uptime_s``,
            ``clock_synced``, ``forged_acks``, ``config_version`` and ``signal_*`` from
            its last online ``up/status`` (empty if none).
    """

    id: str
    tenant: str
    site: str | None
    disabled: bool
    created_at: datetime
    presence: str | None
    presence_at: datetime | None
    last_batch_at: datetime | None
    revoked_at: datetime | None = None
    previous_secret_until: datetime | None = None
    status_report: dict[str, int | bool | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """A device of a gateway: its health as last reported, and what it measures.

    Attributes:
        health: ``ok``/``degraded``/``unknown`` from the gateway's ``up/status``, or None.
        health_error: why it is degraded, as the gateway put it.
        quantities: quantity codes it has readings of.
    """

    name: str
    model: str | None
    health: str | None
    health_error: str | None
    health_at: datetime | None
    quantities: list[str]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that was not accepted, with the reason."""

    id: int
    received_at: datetime
    source: str
    gateway_id: str | None
    reason: str
    detail: str
    payload: bytes = field(repr=False)
    payload_size: int


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    """One row of ``schema_migrations``."""

    version: int
    name: str
    checksum: str
    applied_at: datetime
