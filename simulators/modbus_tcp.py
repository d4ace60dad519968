"""A simulated Modbus TCP station: simulated slaves served by pymodbus's ``ModbusTcpServer``.

Layer: asyncio server around :class:`simulators.slaves.SimulatedSlaves`, which
holds the register images, values and faults (see that module). The station
adds the listener, and follows the generator every ``update_interval_s``.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from types import TracebackType
from typing import cast

from pymodbus.server import ModbusTcpServer

from device_profiles import Profile, builtin_profile
from simulators.errors import SimulatorError
from simulators.signals import ValueGenerator
from simulators.slaves import Fault, SimulatedSlaves

__all__ = ["Fault", "SimulatedStation"]


class SimulatedStation(SimulatedSlaves):
    """A Modbus TCP server on loopback whose slaves serve device profiles."""

    def __init__(
        self,
        slaves: Mapping[int, Profile],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        update_interval_s: float | None = 1.0,
        generator: ValueGenerator | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Build the register images; nothing listens until :meth:`start`.

        Args:
            slaves: slave id (1..247) -> the profile it serves.
            host: address to bind.
            port: TCP port; 0 picks a free one (see :attr:`port` after start).
            update_interval_s: how often unpinned values follow the generator;
                ``None`` keeps the values of start time.
            generator: the value source, canonical units (default: :func:`signals.physical`,
                seed 0).
            clock_s: UTC epoch seconds handed to the generator.
        """
        super().__init__(slaves, generator=generator, clock_s=clock_s)
        self.host = host
        self._port = port
        self._update_interval_s = update_interval_s
        self._server: ModbusTcpServer | None = None
        self._updater: asyncio.Task[None] | None = None
        self._stop_request: Callable[[], None] | None = None

    @classmethod
    def for_model(
        cls,
        model: str,
        slaves: Iterable[int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        update_interval_s: float | None = 1.0,
        generator: ValueGenerator | None = None,
    ) -> SimulatedStation:
        """A station whose slaves all serve the built-in profile ``model``.

        Raises:
            ProfileError: there is no such built-in model.
        """
        profile = builtin_profile(model)
        return cls(
            dict.fromkeys(slaves, profile),
            host=host,
            port=port,
            update_interval_s=update_interval_s,
            generator=generator,
        )

    @property
    def port(self) -> int:
        """The TCP port (the one picked by the OS when created with port 0)."""
        return self._port

    async def start(self) -> None:
        """Listen, and start following the generator.

        Raises:
            SimulatorError: the address cannot be bound.
        """
        server = ModbusTcpServer(
            self.sim_devices(), address=(self.host, self._port), ignore_missing_devices=True
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise SimulatorError(f"cannot listen on {self.host}:{self._port}") from exc
        self._server = server
        listener = cast(asyncio.Server, server.transport)
        self._port = int(listener.sockets[0].getsockname()[1])
        if self._update_interval_s is not None:
            self._updater = asyncio.create_task(self._follow(self._update_interval_s))

    async def stop(self) -> None:
        """Stop following the generator, close every connection and the listener."""
        if self._updater is not None:
            self._updater.cancel()
            with suppress(asyncio.CancelledError):
                await self._updater
            self._updater = None
        if self._server is not None:
            listener = cast(asyncio.Server | None, self._server.transport)
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            if listener is not None:
                await listener.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimulatedStation:
        """Start the station."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the station."""
        await self.stop()

    def run_forever(self, on_listening: Callable[[SimulatedStation], None] | None = None) -> None:
        """Serve until SIGINT/SIGTERM (main thread) or :meth:`request_stop` (any thread)."""
        asyncio.run(self._serve_until_stopped(on_listening))

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return; safe from any thread."""
        if self._stop_request is not None:
            self._stop_request()

    async def _follow(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)  # the signal's own period, not a race workaround
            self.update()

    async def _serve_until_stopped(
        self, on_listening: Callable[[SimulatedStation], None] | None
    ) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def request() -> None:
            loop.call_soon_threadsafe(stop.set)

        self._stop_request = request
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        async with self:
            if on_listening is not None:
                on_listening(self)
            await stop.wait()
