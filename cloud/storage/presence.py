"""``GatewayPresence``: what gateways say about themselves on ``up/status``.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`):
the gateway's online/offline state and each device's reported health.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from cloud.errors import UnknownGatewayError
from cloud.storage.models import DeviceSummary
from cloud.storage.pool import PooledStorage, utc_or_none

_SET_PRESENCE = """
UPDATE gateways SET presence = %(state)s, presence_at = now(),
    status_report = coalesce(%(report)s::jsonb, status_report)
WHERE id = %(id)s AND NOT disabled
RETURNING id
"""

_SET_DEVICE_HEALTH = """
INSERT INTO devices (gateway_id, name, health, health_error, health_at)
SELECT %(gw)s, h.name, h.health, h.error, now()
FROM unnest(%(names)s::text[], %(healths)s::text[], %(errors)s::text[]) AS h(name, health, error)
ORDER BY h.name
ON CONFLICT (gateway_id, name) DO UPDATE
SET health = EXCLUDED.health, health_error = EXCLUDED.health_error, health_at = EXCLUDED.health_at
"""

_GATEWAY_DEVICES = """
SELECT d.name, d.model, d.health, d.health_error, d.health_at,
       coalesce(array_agg(s.quantity ORDER BY s.quantity) FILTER (WHERE s.id IS NOT NULL), '{}')
FROM devices d LEFT JOIN series s ON s.device_id = d.id
WHERE d.gateway_id = %(gw)s
GROUP BY d.id
ORDER BY d.name
"""


_ALL_DEVICES = """
SELECT d.gateway_id, d.name, d.model, d.health, d.health_error, d.health_at,
       coalesce(array_agg(s.quantity ORDER BY s.quantity) FILTER (WHERE s.id IS NOT NULL), '{}')
FROM devices d LEFT JOIN series s ON s.device_id = d.id
WHERE d.gateway_id = ANY(%(gws)s::text[])
GROUP BY d.id
ORDER BY d.gateway_id, d.name
"""


class GatewayPresence(PooledStorage):
    """Presence of gateways and health of their devices."""

    async def set_presence(
        self,
        gateway_id: str,
        state: str,
        devices: Mapping[str, tuple[str, str | None]] | None = None,
        report: Mapping[str, int | bool | str] | None = None,
    ) -> None:
        """Record what the gateway said on ``up/status``, now, in one transaction.

        Args:
            gateway_id: the gateway the status topic names.
            state: ``online`` or ``offline``.
            devices: device name -> (``ok``/``degraded``/``unknown``, error or None);
                devices not seen before are created, so a sensor that never
                answered still shows up as degraded.
            report: outbox counters, uptime and clock sync as reported; replaces the
                last report when given (an offline status keeps the last one).

        Raises:
            UnknownGatewayError: no such gateway, or it is disabled.
        """
        health = sorted((devices or {}).items())
        async with self._connection("recording a gateway's presence") as conn:
            params_presence = {
                "id": gateway_id,
                "state": state,
                "report": json.dumps(dict(report)) if report else None,
            }
            cursor = await conn.execute(_SET_PRESENCE, params_presence)
            if await cursor.fetchone() is None:
                raise UnknownGatewayError(gateway_id)
            if health:
                params = {
                    "gw": gateway_id,
                    "names": [name for name, _ in health],
                    "healths": [device_state for _, (device_state, _) in health],
                    "errors": [error for _, (_, error) in health],
                }
                await conn.execute(_SET_DEVICE_HEALTH, params)

    async def gateway_devices(self, gateway_id: str) -> list[DeviceSummary]:
        """The devices of a gateway with their reported health and quantities, by name.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        rows = await self._gateway_rows("listing a gateway's devices", _GATEWAY_DEVICES, gateway_id)
        return [
            DeviceSummary(
                name=name,
                model=model,
                health=health,
                health_error=error,
                health_at=utc_or_none(at),
                quantities=list(quantities),
            )
            for name, model, health, error, at, quantities in rows
        ]

    async def devices_of(self, gateway_ids: Sequence[str]) -> dict[str, list[DeviceSummary]]:
        """The devices of each of ``gateway_ids`` (unknown ones: none), in one query."""
        out: dict[str, list[DeviceSummary]] = {gw: [] for gw in gateway_ids}
        async with self._connection("listing gateways' devices") as conn:
            cursor = await conn.execute(_ALL_DEVICES, {"gws": list(gateway_ids)})
            rows = await cursor.fetchall()
        for gateway_id, name, model, health, error, at, quantities in rows:
            out[gateway_id].append(
                DeviceSummary(
                    name=name,
                    model=model,
                    health=health,
                    health_error=error,
                    health_at=utc_or_none(at),
                    quantities=list(quantities),
                )
            )
        return out
