"""``GatewayRegistry``: tenants, sites and gateways with their HMAC secrets.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
It must not know about HTTP or MQTT; secrets are returned once and never logged.
"""

from __future__ import annotations

import secrets

from cloud.errors import GatewayExistsError, InvalidIdentifierError, UnknownGatewayError
from cloud.storage.models import GatewaySummary
from cloud.storage.pool import PooledStorage, scalar, utc, utc_or_none
from wire import MalformedError, check_gateway_id

SECRET_BYTES = 32
MAX_SITE_NAME_CHARS = 200

# Get-or-create in one statement that always returns the id. Not "DO NOTHING, then
# SELECT": when a concurrent registration inserts the same tenant or site, our
# INSERT waits for it to commit and then skips, but the SELECT still runs on the
# statement's snapshot, taken before that commit, and finds no row. DO UPDATE (a
# no-op assignment) instead locks and returns the committed row (READ COMMITTED).
_UPSERT_TENANT = """
INSERT INTO tenants (name) VALUES (%(name)s)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""

_UPSERT_SITE = """
INSERT INTO sites (tenant_id, name) VALUES (%(tenant_id)s, %(name)s)
ON CONFLICT (tenant_id, name) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""

_INSERT_GATEWAY = """
INSERT INTO gateways (id, tenant_id, site_id, secret)
VALUES (%(id)s, %(tenant_id)s, %(site_id)s, %(secret)s)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

_SELECT_HMAC_KEY = "SELECT secret FROM gateways WHERE id = %(id)s AND NOT disabled"

_SET_DISABLED = "UPDATE gateways SET disabled = %(disabled)s WHERE id = %(id)s RETURNING id"

_SET_SECRET = "UPDATE gateways SET secret = %(secret)s WHERE id = %(id)s RETURNING id"  # noqa: S105

_LIST_GATEWAYS = """
SELECT g.id, t.name, s.name, g.disabled, g.created_at, g.presence, g.presence_at,
       (SELECT max(b.received_at) FROM ingested_batches b WHERE b.gateway_id = g.id)
FROM gateways g
JOIN tenants t ON t.id = g.tenant_id
LEFT JOIN sites s ON s.id = g.site_id
ORDER BY g.id
"""


class GatewayRegistry(PooledStorage):
    """Who may send: gateways, their tenant and site, their secret, enabled or not."""

    async def register_gateway(
        self, gateway_id: str, tenant: str = "default", site: str | None = None
    ) -> bytes:
        """Register a gateway with a fresh 32-byte secret and return the secret.

        The secret is returned once; only its holder can sign batches for this
        gateway. The tenant and the site are created if they do not exist yet.

        Raises:
            InvalidIdentifierError: the gateway id or tenant name breaks the wire rules,
                or the site name is empty or too long.
            GatewayExistsError: the id is taken.
        """
        check_identifier("gateway id", gateway_id)
        check_identifier("tenant", tenant)
        if site is not None and not 1 <= len(site) <= MAX_SITE_NAME_CHARS:
            raise InvalidIdentifierError(f"site name must be 1-{MAX_SITE_NAME_CHARS} characters")
        secret = secrets.token_bytes(SECRET_BYTES)
        async with self._connection("registering a gateway") as conn:
            tenant_id = await scalar(conn, _UPSERT_TENANT, {"name": tenant})
            site_id = None
            if site is not None:
                site_id = await scalar(conn, _UPSERT_SITE, {"tenant_id": tenant_id, "name": site})
            params = {
                "id": gateway_id,
                "tenant_id": tenant_id,
                "site_id": site_id,
                "secret": secret,
            }
            cursor = await conn.execute(_INSERT_GATEWAY, params)
            if await cursor.fetchone() is None:
                raise GatewayExistsError(gateway_id)
        return secret

    async def gateway_secret(self, gateway_id: str) -> bytes | None:
        """The gateway's HMAC secret; None if it is unknown or disabled."""
        async with self._connection("looking up a gateway") as conn:
            cursor = await conn.execute(_SELECT_HMAC_KEY, {"id": gateway_id})
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    async def rotate_secret(self, gateway_id: str) -> bytes:
        """Give a gateway a fresh secret and return it; the old one stops verifying at once.

        For a gateway whose secret leaked, or that was re-provisioned. Batches it
        signed with the old secret and has not yet delivered will be dead-lettered
        as ``bad_signature`` (kept, with their payload, for an operator to replay).

        Raises:
            UnknownGatewayError: no such gateway.
        """
        secret = secrets.token_bytes(SECRET_BYTES)
        async with self._connection("rotating a gateway secret") as conn:
            cursor = await conn.execute(_SET_SECRET, {"id": gateway_id, "secret": secret})
            if await cursor.fetchone() is None:
                raise UnknownGatewayError(gateway_id)
        return secret

    async def list_gateways(self) -> list[GatewaySummary]:
        """Every registered gateway with its presence and newest batch, by id."""
        async with self._connection("listing gateways") as conn:
            cursor = await conn.execute(_LIST_GATEWAYS)
            rows = await cursor.fetchall()
        return [
            GatewaySummary(
                id=gw,
                tenant=tenant,
                site=site,
                disabled=disabled,
                created_at=utc(created),
                presence=presence,
                presence_at=utc_or_none(presence_at),
                last_batch_at=utc_or_none(last_batch),
            )
            for gw, tenant, site, disabled, created, presence, presence_at, last_batch in rows
        ]

    async def set_gateway_disabled(self, gateway_id: str, disabled: bool = True) -> None:
        """Disable (or re-enable) a gateway: its batches are refused while disabled.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        async with self._connection("updating a gateway") as conn:
            params = {"id": gateway_id, "disabled": disabled}
            cursor = await conn.execute(_SET_DISABLED, params)
            if await cursor.fetchone() is None:
                raise UnknownGatewayError(gateway_id)


def check_identifier(what: str, value: str) -> None:
    """Refuse a gateway id or tenant name outside the wire's identifier rules.

    Raises:
        InvalidIdentifierError: with a message that states the rule.
    """
    try:
        check_gateway_id(value)
    except MalformedError:
        raise InvalidIdentifierError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '.', ':', '-' "
            "starting with a letter or digit"
        ) from None
