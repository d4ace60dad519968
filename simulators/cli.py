"""Command line of the simulators (mounted as ``shanshui sim ...``).

Layer: argument parsing and printing only; the simulators do the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from datetime import datetime, timedelta, timezone
from typing import Annotated

import typer

from device_profiles import ProfileError, builtin_profile
from simulators.ascii_sensors import AsciiSensor
from simulators.errors import SimulatorError
from simulators.hj212_logger import Hj212Logger
from simulators.modbus_rtu import RtuBus, RtuSlave
from simulators.modbus_tcp import SimulatedStation
from simulators.modem import ModemSimulator
from simulators.register_image import RegisterImage
from wire import Hj212Error
from wire.hj212 import DataItem, Edition, PeerCipher

BEIJING = timezone(timedelta(hours=8))

app = typer.Typer(help="Simulated sensors and stations.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Simulated sensors and stations that serve the device profiles."""


@app.command("modbus-tcp")
def modbus_tcp(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks one.")] = 5020,
    model: Annotated[str, typer.Option(help="Built-in device profile.")] = "jxct-th-rs485",
    slave: Annotated[
        list[int] | None, typer.Option(min=1, max=247, help="Slave id; repeat for more.")
    ] = None,
    update_interval_s: Annotated[
        float, typer.Option(min=0.01, help="Seconds between value updates.")
    ] = 1.0,
) -> None:
    """Serve simulated sensors of MODEL over Modbus TCP until SIGINT or SIGTERM."""
    slaves = slave or [1]
    try:
        station = SimulatedStation.for_model(
            model, slaves, host=host, port=port, update_interval_s=update_interval_s
        )
    except (ProfileError, SimulatorError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    def announce(running: SimulatedStation) -> None:
        label = "slave" if len(slaves) == 1 else "slaves"
        ids = ",".join(str(s) for s in slaves)
        typer.echo(f"simulated station: {model} {label} {ids} on {running.host}:{running.port}")

    try:
        station.run_forever(on_listening=announce)
    except SimulatorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("modbus-rtu")
def modbus_rtu(
    device: Annotated[
        list[str] | None,
        typer.Option(
            help="SLAVE:MODEL[@BAUD[PARITY]], e.g. 7:jxct-th-rs485@4800E; repeat for more. "
            "Without @, the device answers at any line setting."
        ),
    ] = None,
    tcp_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Also act as an RS-485-to-Ethernet converter here."),
    ] = None,
    update_interval_s: Annotated[
        float, typer.Option(min=0.01, help="Seconds between value updates.")
    ] = 1.0,
    latency_ms: Annotated[
        float, typer.Option(min=0, help="Each device's processing time before it answers.")
    ] = 5.0,
) -> None:
    """Serve an RS-485 bus of simulated Modbus RTU sensors on a pseudo-terminal."""
    try:
        slaves = dict(parse_device(spec) for spec in device or ["1:jxct-th-rs485"])
        for simulated in slaves.values():
            simulated.latency_s = latency_ms / 1000
        bus = RtuBus(slaves, update_interval_s=update_interval_s)
    except (ProfileError, SimulatorError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(_serve_rtu(bus, tcp_port))


def parse_device(spec: str) -> tuple[int, RtuSlave]:
    """``7:jxct-th-rs485@4800E`` -> slave 7 of that model, answering only at 4800 8E1.

    Raises:
        SimulatorError: the text is not of that form.
        ProfileError: no such built-in model.
    """
    slave_text, _, rest = spec.partition(":")
    model, _, line = rest.partition("@")
    if not slave_text.isdigit() or not model:
        raise SimulatorError(f"device {spec!r}: use SLAVE:MODEL[@BAUD[PARITY]]")
    slave = int(slave_text)
    parity = line[-1].upper() if line and line[-1].upper() in "NEO" else "N"
    baud_text = line.rstrip("NEOneo")
    if line and not baud_text.isdigit():
        raise SimulatorError(f"device {spec!r}: line {line!r} is not BAUD[N|E|O]")
    baudrate = int(baud_text) if line else None
    image = RegisterImage(slave, builtin_profile(model), baudrate=baudrate)
    return slave, RtuSlave(image, baudrate=baudrate, parity=parity)


async def _serve_rtu(bus: RtuBus, tcp_port: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with bus:
        ids = ",".join(str(s) for s in bus.slaves)
        text = f"simulated RTU bus: slaves {ids} on {bus.port}"
        if tcp_port is not None:
            text += f" and 127.0.0.1:{await bus.serve_tcp(port=tcp_port)}"
        typer.echo(text)
        await stop.wait()


@app.command("ascii")
def ascii_sensor(
    model: Annotated[str, typer.Option(help="Built-in ASCII device profile.")],
    interval_s: Annotated[
        float | None, typer.Option(min=0.01, help="Seconds between streamed lines.")
    ] = None,
) -> None:
    """Serve a simulated serial ASCII sensor on a pseudo-terminal until SIGINT or SIGTERM."""
    try:
        sensor = AsciiSensor(builtin_profile(model), interval_s=interval_s)
    except (ProfileError, SimulatorError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(_serve_ascii(sensor))


async def _serve_ascii(sensor: AsciiSensor) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with sensor:
        typer.echo(f"simulated ASCII sensor: {sensor.profile.model} on {sensor.port}")
        await stop.wait()


@app.command("modem")
def modem(
    registration_delay_s: Annotated[
        float, typer.Option(min=0, help="Seconds from attach to registration.")
    ] = 5.0,
    cell_band: Annotated[int, typer.Option(help="The band of the cell in reach.")] = 8,
    required_apn: Annotated[
        str | None, typer.Option(help="An APN the network insists on (default: any).")
    ] = None,
) -> None:
    """A Quectel BC95/BC28-class NB-IoT module on a pseudo-terminal, until SIGINT or SIGTERM.

    UDP sockets and the module's MQTT client (AT+QMT...) reach real endpoints on this machine.
    """
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # delivered to sigwait, not to handlers
    with ModemSimulator(
        registration_delay_s=registration_delay_s, cell_band=cell_band, required_apn=required_apn
    ) as sim:
        typer.echo(f"simulated BC95 NB-IoT module on {sim.port} (UDP goes to real loopback)")
        signal.sigwait(stop)


@app.command("hj212-logger")
def hj212_logger(  # noqa: PLR0917 - typer options
    port: Annotated[int, typer.Option(min=1, max=65535, help="The platform's TCP port.")],
    mn: Annotated[str, typer.Option(help="The station's MN.")],
    host: Annotated[str, typer.Option(help="The platform's address.")] = "127.0.0.1",
    edition: Annotated[Edition, typer.Option(help="HJ 212 edition.")] = Edition.HJ212_2017,
    interval_s: Annotated[float, typer.Option(min=0.1, help="Seconds between uploads.")] = 30.0,
    count: Annotated[int, typer.Option(min=0, help="Uploads to send; 0: until Ctrl-C.")] = 0,
) -> None:
    """A data logger sending real-time (2011) air data over HJ 212; password from
    SHANSHUI_HJ212_PASSWORD, SM4 key (2025) from SHANSHUI_HJ212_KEY (hex). Between
    uploads it answers the platform's commands (1011/1012 time, 1061/1062 interval;
    a 1062 becomes its upload interval)."""
    password = os.environ.get("SHANSHUI_HJ212_PASSWORD", "")
    key = os.environ.get("SHANSHUI_HJ212_KEY", "")
    if not password:
        typer.echo("error: set SHANSHUI_HJ212_PASSWORD to the station's password", err=True)
        raise typer.Exit(2)
    try:
        cipher = PeerCipher(bytes.fromhex(key)) if key else None
    except (ValueError, Hj212Error):
        typer.echo("error: SHANSHUI_HJ212_KEY must be 32 hex digits", err=True)
        raise typer.Exit(2) from None
    logger = Hj212Logger(host, port, mn=mn, password=password, edition=edition, cipher=cipher)
    try:
        asyncio.run(_log_forever(logger, interval_s, count))
    except KeyboardInterrupt:
        pass
    except (OSError, SimulatorError, Hj212Error) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


async def _answer_until_next_upload(logger: Hj212Logger, interval_s: list[float]) -> None:
    """Answer the platform's commands until the next upload is due; a 1062 moves it."""
    since = asyncio.get_running_loop().time()

    def new_interval(seconds: int) -> None:
        interval_s[0] = seconds
        scope.reschedule(since + seconds)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(interval_s[0]) as scope:
            logger.on_interval = new_interval
            await logger.answer_commands()
    logger.on_interval = None


async def _log_forever(logger: Hj212Logger, interval_s: float, count: int) -> None:
    rng = random.Random()
    sent = 0
    logger.rtd_interval_s = max(1, round(interval_s))  # what a 1061 reads
    interval = [interval_s]  # a 1062 replaces it
    async with logger:
        while count == 0 or sent < count:
            now = datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)
            items = tuple(
                DataItem(code, (("Rtd", f"{rng.uniform(low, high):.1f}"), ("Flag", "N")))
                for code, low, high in (("a34004", 10, 80), ("a34002", 20, 150), ("a21026", 2, 20))
            )
            packet = logger.packet("2011", now, items, qn=f"{now:%Y%m%d%H%M%S}000")
            answer = await logger.upload(packet)
            typer.echo(f"QN {packet.qn}: answered CN={answer.cn}")
            sent += 1
            if count == 0 or sent < count:  # the upload interval; a 1062 changes it
                await _answer_until_next_upload(logger, interval)
