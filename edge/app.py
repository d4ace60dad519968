"""The gateway agent: configuration -> pollers -> outbox -> publisher -> uplink.

Layer: wiring and lifecycle (asyncio). It starts and stops the parts and
reports their health; it holds no protocol code, no SQL and no decoding.

Use it in-process::

    async with Agent(config) as agent:
        await agent.wait_until(lambda h: h.last_acked_seq is not None, timeout_s=10)

or ``await agent.run(stop_event)`` (what ``shanshui edge run`` does on
SIGINT/SIGTERM). Stopping lets each poller finish its cycle, seals what is
pending, waits up to ``shutdown_timeout_s`` for in-flight batches to be
confirmed, then closes the uplink cleanly (retained status becomes offline).

Status: the retained online message carries :func:`edge.status.status_body` of
the health. The uplink publishes it on every connect; the agent republishes it
every ``publish.status_interval_s`` while connected, and when a device changes
state (ok/degraded/unknown), at most once per :data:`STATUS_MIN_GAP_S`. While
disconnected nothing is published: the next connect brings a fresh one.
An Agent runs once: build a new one (same data_dir) to run again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from device_profiles import Profile
from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.errors import UplinkError
from edge.outbox import OutboxRunner
from edge.polling import DeviceHealth, poller_for
from edge.publisher import Publisher
from edge.status import STATUS_FILE, status_body
from edge.uplink.base import RetiredSecret, Uplink
from edge.uplink.build import build_uplink

log = logging.getLogger(__name__)

STATUS_MIN_GAP_S = 1.0  # a device state change waits this long after the last status


@dataclass(frozen=True)
class Health:
    """A snapshot of the agent's state."""

    gateway_id: str
    uplink_connected: bool
    devices: Mapping[str, DeviceHealth]
    pending_readings: int
    unacked_batches: int
    next_seq: int
    last_sealed_seq: int | None
    last_acked_seq: int | None
    acked_batches: int
    quarantined_batches: int = 0
    resent_batches: int = 0
    thinned_readings: int = 0
    forged_acks: int = 0
    uptime_s: float = 0.0
    clock_synced: bool | None = None
    config_version: str | None = None

    @property
    def outbox_depth(self) -> int:
        """Batches in the outbox awaiting confirmation."""
        return self.unacked_batches


class Agent:
    """The edge agent, started and stopped in-process."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        uplink: Uplink | None = None,
        profiles: Mapping[str, Profile] | None = None,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        """Wire the parts; nothing runs until :meth:`start`.

        Args:
            config: the resolved gateway configuration.
            uplink: the transport (default: what ``config.settings.uplink`` chooses).
            profiles: device id -> profile overrides (default: the built-in models).
            shutdown_timeout_s: how long :meth:`stop` waits for in-flight batches.
        """
        self.config = config
        self.retired_secret = RetiredSecret()  # set by the supervisor after a rotation
        self.uplink = uplink or build_uplink(config, self._secret, self.retired_secret)
        self._shutdown_timeout_s = shutdown_timeout_s
        self._outbox = OutboxRunner(config.data_dir)
        self._publisher = Publisher(
            self._outbox,
            self.uplink,
            gateway_id=config.gateway_id,
            secret=self._secret,
            publish=config.settings.publish,
            on_change=self._notify,
            limits=config.settings.outbox,
        )
        self._pollers = [
            poller_for(bus, self._publisher.store, profiles=profiles, on_change=self._notify)
            for bus in config.settings.buses
        ]
        self._changed = asyncio.Event()
        self._poll_stop = asyncio.Event()
        self._crashed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher_task: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._status_states: dict[str, str] | None = None  # device states last published
        self._status_at = -math.inf  # loop time of the last status built for publishing
        self._status_ok = True
        self._status_stop = False
        self._started = False
        self._started_at = time.monotonic()
        self._clock_synced: bool | None = None
        self._file_at = -math.inf  # loop time of the last status file written
        self.config_version: str | None = None  # of a pushed config, set by the supervisor

    async def start(self) -> None:
        """Open the outbox, connect the uplink, start publisher and pollers.

        Raises:
            OutboxError: the outbox cannot be opened.
            UplinkError: the uplink cannot be set up.
        """
        self._started_at = time.monotonic()
        self._clock_synced = clock_synced()
        await self._outbox.open()
        try:
            await self._publisher.load()
            await self.uplink.open(
                self._publisher.on_settled, self._publisher.on_state, self._status_payload
            )
        except BaseException:
            await self._outbox.close()
            raise
        self._started = True
        self._publisher_task = self._spawn(self._publisher.run(), "publisher")
        self._status_task = self._spawn(self._report_status(), "status")
        for poller in self._pollers:
            self._tasks.append(self._spawn(poller.run(self._poll_stop), f"poller {poller.name}"))
        log.info("agent %s started with %d bus(es)", self.config.gateway_id, len(self._pollers))

    async def stop(self) -> None:
        """Stop polling, flush what can be flushed, close the uplink and the outbox."""
        if not self._started:
            return
        self._started = False
        if self._status_task is not None:
            # no more republishing while stopping; a flag, not cancel(): on 3.11
            # wait_for() may swallow a cancel that coincides with a change (bpo-42130)
            self._status_stop = True
            self._notify()
            await asyncio.gather(self._status_task, return_exceptions=True)
        self._poll_stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._publisher_task is not None:
            self._publisher.request_stop(self._shutdown_timeout_s)
            await asyncio.gather(self._publisher_task, return_exceptions=True)
        await self.uplink.close(self._shutdown_timeout_s)
        await self._outbox.close()
        self._write_status_file(b'{"state":"stopped","time_ms":%d}' % int(time.time() * 1000))
        self._notify()
        log.info("agent %s stopped", self.config.gateway_id)

    async def __aenter__(self) -> Agent:
        """Start the agent."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the agent."""
        await self.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (or an internal task dies), then stop cleanly.

        Raises:
            RuntimeError: an internal task died (a bug; the log has its traceback).
        """
        async with self:
            stopped = asyncio.ensure_future(stop.wait())
            crashed = asyncio.ensure_future(self._crashed.wait())
            await asyncio.wait({stopped, crashed}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stopped, crashed):
                waiter.cancel()
        if self._crashed.is_set():
            raise RuntimeError("an agent task died; see the log")

    def health(self) -> Health:
        """Per-device state, outbox depth and uplink state, now."""
        view = self._publisher.view
        devices = {h.device_id: h for poller in self._pollers for h in poller.health()}
        return Health(
            gateway_id=self.config.gateway_id,
            uplink_connected=self.uplink.connected,
            devices=devices,
            pending_readings=view.pending_readings,
            unacked_batches=view.unacked_batches,
            next_seq=view.next_seq,
            last_sealed_seq=view.last_sealed_seq,
            last_acked_seq=view.last_acked_seq,
            acked_batches=view.acked_batches,
            quarantined_batches=view.quarantined_batches,
            resent_batches=view.resent_batches,
            thinned_readings=view.thinned_readings,
            forged_acks=self.uplink.forged,
            uptime_s=time.monotonic() - self._started_at,
            clock_synced=self._clock_synced,
            config_version=self.config_version,
        )

    def is_acked(self, seq: int) -> bool:
        """Whether the cloud has settled batch ``seq`` during this run (recent batches)."""
        return self._publisher.is_settled(seq)

    async def wait_until(self, predicate: Callable[[Health], bool], timeout_s: float) -> Health:
        """Wait until ``predicate(health)`` holds; re-checked on every change.

        Raises:
            TimeoutError: not within ``timeout_s``; the message shows the last health.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            health = self.health()
            if predicate(health):
                return health
            changed = self._changed
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout_s}s; last health: {health}")
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_acked(self, seq: int, timeout_s: float) -> Health:
        """Wait until batch ``seq`` has been confirmed by the uplink."""
        return await self.wait_until(lambda _h: self.is_acked(seq), timeout_s)

    def _secret(self) -> bytes:
        """The gateway's current secret (read at every send and every ack).

        A rotation replaces :attr:`config` with one holding the new secret: the
        next batch is signed with it, no restart needed.
        """
        return self.config.secret.get_secret_value()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _device_states(self) -> dict[str, str]:
        return {h.device_id: h.state for poller in self._pollers for h in poller.health()}

    def _status_payload(self) -> bytes:
        """The online status now; also what the uplink publishes on every connect."""
        # both clocks read together: the gap kept on the loop's clock is the gap the
        # stamps show (read apart, a slow health() under load shortened it by its time)
        now_ms = int(time.time() * 1000)
        self._status_at = asyncio.get_running_loop().time()
        self._status_states = self._device_states()
        self._clock_synced = clock_synced()
        body = status_body(self.health(), now_ms)
        self._write_status_file(body)
        return body

    def _write_status_file(self, body: bytes) -> None:
        """Keep the latest status in data_dir for ``shanshui edge status`` (atomic replace)."""
        with suppress(RuntimeError):
            self._file_at = asyncio.get_running_loop().time()
        path = self.config.data_dir / STATUS_FILE
        try:
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(body)
            temporary.replace(path)
        except OSError as exc:
            log.debug("status file not written: %s", exc)

    async def _report_status(self) -> None:
        """Republish the status periodically and on device state changes, while connected."""
        loop = asyncio.get_running_loop()
        interval_s = self.config.settings.publish.status_interval_s
        while not self._status_stop:
            changed = self._changed  # taken before looking, so no change is missed
            # disconnected: the next connect publishes; the local file stays fresh
            timeout_s: float | None = self._file_at + interval_s - loop.time()
            if not self.uplink.connected and timeout_s is not None and timeout_s <= 0:
                self._status_payload()
                continue
            if self.uplink.connected:
                if self._device_states() != self._status_states:
                    due = self._status_at + STATUS_MIN_GAP_S
                else:
                    due = self._status_at + interval_s
                timeout_s = due - loop.time()
                if timeout_s <= 0:
                    self._publish_status()
                    continue
            with suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await changed.wait()

    def _publish_status(self) -> None:
        try:
            self.uplink.publish_status(self._status_payload())
        except UplinkError as exc:
            if self._status_ok:
                log.warning("status not published: %s", exc)
            self._status_ok = False
            return
        self._status_ok = True

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(self._check_task)
        return task

    def _check_task(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("%s died", task.get_name(), exc_info=task.exception())
        self._crashed.set()
