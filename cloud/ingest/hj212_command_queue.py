"""``CommandQueueRunner``: carries out the operator's queued HJ 212 commands on this listener.

Layer: ingest glue (asyncio; no SQL: :mod:`cloud.storage.hj212_commands`). While
loggers are connected to this process's HJ 212 server, it claims their queued
commands (``shanshui cloud hj212 command`` queues them, any process), sends each
through the server's :class:`~cloud.ingest.hj212_commands.CommandDesk`, and
records the answer. Claims are exclusive, so with several listeners the one that
holds the logger's connection carries it out; it looks every ``poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from cloud.errors import CloudError
from cloud.ingest.hj212_commands import CommandDesk, CommandError
from cloud.storage import Storage
from cloud.storage.hj212_commands import QueuedCommand, claim_commands, finish_command

log = logging.getLogger(__name__)

POLL_S = 0.5
LONGEST_S = 120.0


class CommandQueueRunner:
    """See the module docstring."""

    def __init__(self, storage: Storage, desk: CommandDesk, *, poll_s: float = POLL_S) -> None:
        self._storage, self._desk, self._poll_s = storage, desk, poll_s
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    def start(self) -> None:
        """Start looking for commands."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hj212-commands")

    async def stop(self) -> None:
        """Stop looking; commands under way are cut short (they fail as not answered)."""
        self._stop.set()
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            claimed: list[QueuedCommand] = []
            connected = self._desk.connected
            try:
                if connected:  # no logger here: nothing this process could carry out
                    claimed = await claim_commands(self._storage, connected)
            except CloudError as exc:  # the next round tries again
                log.warning("HJ 212 commands not claimed: %s", exc)
            for command in claimed:
                task = asyncio.get_running_loop().create_task(self._carry_out(command))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._stop.wait()

    async def _carry_out(self, command: QueuedCommand) -> None:
        left_s = LONGEST_S
        if command.expires_at is not None:
            left_s = (command.expires_at - datetime.now(UTC)).total_seconds()
        try:
            exchange = await self._desk.run(command.mn, command.cn, command.value, max(left_s, 1))
        except CommandError as exc:
            await finish_command(
                self._storage, command.id, succeeded=False, qn_rtn=None, exe_rtn=None,
                result={"error": str(exc)},
            )  # fmt: skip
            return
        await finish_command(
            self._storage,
            command.id,
            succeeded=exchange.succeeded,
            qn_rtn=exchange.qn_rtn,
            exe_rtn=exchange.exe_rtn,
            result=dict(exchange.values),
        )
