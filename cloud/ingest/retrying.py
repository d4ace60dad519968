"""``Retrier``: run a storage call until it settles, backing off while it fails.

Layer: ingest logic (no SQL, no transport). The pipeline settles every message
through it: a message is acknowledged only once what it asked of storage
happened, so a failing database holds messages instead of losing them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cloud.errors import (
    SeqReusedError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.ingest.outcomes import StoppingError

log = logging.getLogger("cloud.ingest.pipeline")

T = TypeVar("T")

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
# What storage refuses on purpose: a dead letter, not a retry.
REFUSALS = (UnknownQuantityError, SeqReusedError, UnknownGatewayError)


class Retrier:
    """Retry storage calls with back-off until they settle or :meth:`stop` is called.

    Args:
        first_s: the first back-off (default :data:`RETRY_FIRST_S`); it doubles up to ``max_s``.
        max_s: the longest back-off (default :data:`RETRY_MAX_S`).
    """

    def __init__(self, first_s: float | None = None, max_s: float | None = None) -> None:
        self.first_s = RETRY_FIRST_S if first_s is None else first_s
        self.max_s = RETRY_MAX_S if max_s is None else max_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Cut short every back-off in progress: :meth:`run` raises :class:`StoppingError`."""
        self._stopping.set()

    async def run(self, operation: Callable[[], Awaitable[T]], about: str = "") -> T:
        """Run ``operation`` until it settles; back off while storage fails.

        Refusals (:data:`REFUSALS`) pass through at once. Anything else is
        retried: unavailability is expected and logged as a warning, any other
        error as an exception with its traceback, once per failing spell.
        ``about`` (``gateway=… seq=…``) names the batch in those lines.

        Raises:
            StoppingError: :meth:`stop` was called while waiting to retry.
        """
        delay_s = self.first_s
        failing = False
        while True:
            try:
                result = await operation()
            except REFUSALS:
                raise
            except StorageUnavailableError as exc:
                if not failing:
                    log.warning("database unavailable, holding the message %s: %s", about, exc)
                    failing = True
            except Exception:
                if not failing:
                    log.exception("unexpected error from storage, holding the message %s", about)
                    failing = True
            else:
                if failing:
                    log.info("database reachable again")
                return result
            try:
                # Backoff, cut short by stop(): waiting on the event is the retry delay.
                async with asyncio.timeout(delay_s):
                    await self._stopping.wait()
            except TimeoutError:
                delay_s = min(delay_s * 2, self.max_s)
                continue
            raise StoppingError
