"""A gateway's ``up/status`` message, verified and recorded as its presence.

Layer: ingest logic (storage calls through the pipeline's :class:`Retrier`, no
SQL, no transport). The gateway signs its status in place
(:func:`wire.signing.sign_object`): an unsigned or forged status is ignored and
counted, so nobody else can make up its devices; a status is kept only for a
registered gateway and never used to accept data.
"""

from __future__ import annotations

import logging

from cloud.errors import UnknownGatewayError
from cloud.ingest.decode import REVOKED, UNKNOWN_GATEWAY, Channel, Rejected, parse_status
from cloud.ingest.outcomes import IGNORED, PRESENCE, Settled
from cloud.ingest.retrying import Retrier
from cloud.storage import Storage
from wire import WireError
from wire.signing import verify_object

log = logging.getLogger("cloud.ingest.pipeline")


async def settle_status(
    storage: Storage, retrier: Retrier, channel: Channel, payload: bytes
) -> Settled | Rejected:
    """Verify a status and record the presence it reports; return the verdict.

    Raises:
        StoppingError: the retrier was stopped while the database was unavailable.
    """
    gateway_id = channel.gateway_id
    keys = await retrier.run(lambda: storage.gateway_keys(gateway_id))
    if keys is not None and keys.revoked:
        return Rejected(REVOKED, f"gateway {gateway_id!r} is revoked", gateway_id)
    if keys is None or not keys.usable:
        detail = f"gateway {gateway_id!r} is not registered or is disabled"
        return Rejected(UNKNOWN_GATEWAY, detail, gateway_id)
    opened = _verify_status(payload, keys.accepted)
    if opened is None:
        log.info("ignored a status on %s: bad signature", gateway_id)
        return Settled(IGNORED, gateway_id)
    status = parse_status(channel, opened)
    if isinstance(status, Rejected):
        return status
    devices = {name: (d.state, d.error) for name, d in status.devices.items()}
    try:
        await retrier.run(
            lambda: storage.set_presence(gateway_id, status.state, devices, status.report)
        )
    except UnknownGatewayError as exc:
        return Rejected(UNKNOWN_GATEWAY, str(exc), gateway_id)
    return Settled(PRESENCE, gateway_id)


def _verify_status(payload: bytes, accepted: tuple[bytes, ...]) -> bytes | None:
    """The status payload verified by one of the accepted secrets, or None."""
    for secret in accepted:
        try:
            return verify_object(payload, secret)
        except WireError:
            continue
    return None
