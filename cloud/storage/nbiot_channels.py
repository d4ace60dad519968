"""Each NB-IoT gateway's channel table: (device, quantity, decimals) in the gateway's order.

Layer: storage (SQL only; functions over a :class:`Storage`). A compact frame
names its points by position in this table and the table by a digest, so the
rows must be the gateway's ``uplink.channels``, same order; a table is replaced
whole. The listeners read a gateway's table at every frame, so a change applies
at once. Changes are in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from cloud.errors import InvalidValueError, UnknownGatewayError
from cloud.storage import audit
from cloud.storage.store import Storage
from wire.compact import MAX_CHANNELS, Channel

_DELETE = "DELETE FROM nbiot_channels WHERE gateway_id = %(gateway)s"
_INSERT = """
INSERT INTO nbiot_channels (gateway_id, position, device, quantity, decimals)
VALUES (%(gateway)s, %(position)s, %(device)s, %(quantity)s, %(decimals)s)
"""
_SELECT = """
SELECT device, quantity, decimals FROM nbiot_channels WHERE gateway_id = %(gateway)s
ORDER BY position
"""
_LIST = "SELECT gateway_id, device, quantity, decimals FROM nbiot_channels ORDER BY 1, position"


async def set_channels(
    storage: Storage, gateway_id: str, channels: Sequence[Channel], *, actor: str
) -> None:
    """Replace the gateway's table with ``channels`` (in this order); empty: remove it.

    Raises:
        InvalidValueError: a channel the compact frame cannot carry, or one listed twice.
        UnknownGatewayError: no such gateway.
    """
    if len(channels) > MAX_CHANNELS:
        raise InvalidValueError(f"at most {MAX_CHANNELS} channels")
    if len({(c.device, c.quantity) for c in channels}) != len(channels):
        raise InvalidValueError("a device and quantity is listed twice")
    rows = [
        {
            "gateway": gateway_id,
            "position": i,
            "device": c.device,
            "quantity": c.quantity,
            "decimals": c.decimals,
        }
        for i, c in enumerate(channels)
    ]
    async with storage.connection("storing an NB-IoT channel table") as conn:
        try:
            await conn.execute(_DELETE, {"gateway": gateway_id})
            if rows:
                async with conn.cursor() as cursor:
                    await cursor.executemany(_INSERT, rows)
        except psycopg.errors.ForeignKeyViolation:
            raise UnknownGatewayError(gateway_id) from None
        except psycopg.errors.CheckViolation:
            raise InvalidValueError("device and quantity must be 1-64 characters") from None
    await audit.record(
        storage, actor, "nbiot_channels.set", gateway_id, {"channels": len(channels)}
    )


async def channels(storage: Storage, gateway_id: str) -> tuple[Channel, ...] | None:
    """The gateway's table, in order; None when it has none."""
    async with storage.connection("reading an NB-IoT channel table") as conn:
        cursor = await conn.execute(_SELECT, {"gateway": gateway_id})
        rows = await cursor.fetchall()
    return tuple(Channel(d, q, int(n)) for d, q, n in rows) or None


async def list_channels(storage: Storage) -> dict[str, tuple[Channel, ...]]:
    """Every gateway's table, by gateway id."""
    async with storage.connection("listing NB-IoT channel tables") as conn:
        cursor = await conn.execute(_LIST)
        rows = await cursor.fetchall()
    tables: dict[str, list[Channel]] = {}
    for gateway, device, quantity, decimals in rows:
        tables.setdefault(gateway, []).append(Channel(device, quantity, int(decimals)))
    return {gateway: tuple(table) for gateway, table in tables.items()}
