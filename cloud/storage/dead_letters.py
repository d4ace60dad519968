"""``DeadLetters``: messages the cloud did not accept, kept with the reason.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
An operator reads them back (``shanshui cloud dead-letters``) to see what a
gateway sent and why it was refused.
"""

from __future__ import annotations

from cloud.storage.models import DeadLetter
from cloud.storage.pool import PooledStorage, scalar, utc

MAX_DEAD_LETTER_PAYLOAD = 1024 * 1024
MAX_DETAIL_CHARS = 2000
MAX_CLAIMED_ID_CHARS = 256

_INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (source, gateway_id, reason, detail, payload, payload_size)
VALUES (%(source)s, %(gw)s, %(reason)s, %(detail)s, %(payload)s, %(size)s)
RETURNING id
"""

_LIST_DEAD_LETTERS = """
SELECT id, received_at, source, gateway_id, reason, detail, payload, payload_size
FROM dead_letters
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s
"""


class DeadLetters(PooledStorage):
    """The ``dead_letters`` table."""

    async def dead_letter(
        self,
        source: str,
        reason: str,
        detail: str,
        payload: bytes,
        gateway_id: str | None = None,
        *,
        payload_limit: int = MAX_DEAD_LETTER_PAYLOAD,
    ) -> int:
        """Keep a message that was not accepted, with the reason; return its id.

        Only the first ``payload_limit`` bytes of the payload are kept (at most
        1 MiB; ``payload_size`` keeps the real size); ``detail`` is cut to 2000
        characters.
        """
        keep = max(0, min(payload_limit, MAX_DEAD_LETTER_PAYLOAD))
        params = {
            "source": source,
            "gw": None if gateway_id is None else gateway_id[:MAX_CLAIMED_ID_CHARS],
            "reason": reason,
            "detail": detail[:MAX_DETAIL_CHARS],
            "payload": bytes(payload[:keep]),
            "size": len(payload),
        }
        async with self._connection("keeping a dead letter") as conn:
            return int(await scalar(conn, _INSERT_DEAD_LETTER, params))

    async def list_dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        """The newest ``limit`` dead letters, newest first."""
        async with self._connection("listing dead letters") as conn:
            cursor = await conn.execute(_LIST_DEAD_LETTERS, {"limit": limit})
            rows = await cursor.fetchall()
        return [
            DeadLetter(
                id=row[0],
                received_at=utc(row[1]),
                source=row[2],
                gateway_id=row[3],
                reason=row[4],
                detail=row[5],
                payload=bytes(row[6]),
                payload_size=row[7],
            )
            for row in rows
        ]
