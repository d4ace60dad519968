"""The technician's command line (mounted as ``shanshui edge ...``).

Layer: argument parsing, printing and exit codes only. User mistakes (a broken
gateway.yaml, an unknown model, an unreachable sensor) print one message and
exit non-zero without a traceback: 2 for configuration and usage, 1 for a
device or runtime failure.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from device_profiles import (
    Flag,
    InvalidRawError,
    Profile,
    ProfileError,
    builtin_profile,
    load_quantities,
    measure,
)
from device_profiles.ascii import AsciiError, parse_line
from edge import systemd
from edge.bus_timing import Parity
from edge.cli_scan import scan_command
from edge.config import EdgeConfig, describe_config, load_config
from edge.config_checks import config_warnings
from edge.errors import BusError, ConfigError, DeviceReadError, EdgeError
from edge.outbox_cli import app as outbox_app
from edge.outbox_cli import status
from edge.polling.ascii_lines import LineReader, NoLineError
from edge.polling.buses import master_for_line
from edge.polling.device_read import PointValues, read_points
from edge.polling.modbus_master import ModbusMaster
from edge.polling.transports import SerialLink
from edge.remote import Supervisor

app = typer.Typer(help="The gateway agent and the technician's tools.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.command()(status)
app.command("scan")(scan_command)

_FLAG_NOTES = {Flag.OVER_RANGE: "  OVER RANGE", Flag.FAULT: "  FAULT"}
EXIT_FAILURE = 1
EXIT_CONFIG = 2
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@app.callback()
def main() -> None:
    """The gateway agent and the technician's tools."""


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway.yaml")] = Path(
        "gateway.yaml"
    ),
    config_timeout: Annotated[
        float,
        typer.Option(help="seconds a config pushed on down/config has to reach its broker"),
    ] = 60.0,
) -> None:
    """Run the gateway agent until SIGINT or SIGTERM (remote config and commands included)."""
    edge_config = _load_or_exit(config)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    _quiet_pymodbus()
    try:
        asyncio.run(_run_agent(config, edge_config, config_timeout))
    except EdgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None


@app.command("check-config")
def check_config(
    config: Annotated[Path, typer.Argument(help="gateway.yaml")] = Path("gateway.yaml"),
) -> None:
    """Validate gateway.yaml (and its secret) and summarise its buses and devices.

    Problems a technician should fix but that do not stop the agent (a secret
    file readable by others, no devices) are printed as warnings.
    """
    edge_config = _load_or_exit(config)
    for line in describe_config(edge_config):
        typer.echo(line)
    for warning in config_warnings(edge_config):
        typer.echo(f"warning: {warning}")
    typer.echo(f"{config.name}: OK")


SerialOption = Annotated[
    str | None,
    typer.Option("--serial", help="Serial port of an RS-485 bus (Modbus RTU), e.g. /dev/ttyUSB0."),
]
BaudOption = Annotated[int, typer.Option("--baud", min=300, help="Serial baud rate.")]
ParityOption = Annotated[str, typer.Option(help="Serial parity: N, E or O.")]
StopbitsOption = Annotated[int, typer.Option(min=1, max=2, help="Serial stop bits.")]
RtuOverTcpOption = Annotated[
    bool,
    typer.Option("--rtu-over-tcp", help="HOST is an RS-485-to-Ethernet converter (RTU frames)."),
]


@app.command()
def read(
    *,
    model: Annotated[str, typer.Option(help="Built-in device profile, e.g. jxct-th-rs485.")],
    host: Annotated[str, typer.Option(help="Modbus TCP host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Modbus TCP port.")] = 502,
    slave: Annotated[int, typer.Option(min=1, max=247, help="Modbus slave id.")] = 1,
    timeout_s: Annotated[float, typer.Option(min=0.01, help="Answer timeout, seconds.")] = 1.0,
    serial: SerialOption = None,
    baud: BaudOption = 9600,
    parity: ParityOption = "N",
    stopbits: StopbitsOption = 1,
    rtu_over_tcp: RtuOverTcpOption = False,
) -> None:
    """Read every point of one sensor once and print name, value and unit.

    Modbus TCP by default; --serial for an RS-485 port, --rtu-over-tcp for a converter.
    """
    try:
        profile = builtin_profile(model)
    except ProfileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    line = _parity_or_exit(parity)
    _quiet_pymodbus()
    master = master_for_line(
        serial_port=serial,
        host=host,
        tcp_port=port,
        rtu_over_tcp=rtu_over_tcp,
        baudrate=baud,
        parity=line,
        stopbits=stopbits,
        timeout_s=timeout_s,
    )
    try:
        if profile.ascii is not None:
            values = asyncio.run(
                _read_ascii_once(
                    serial,
                    baud=baud,
                    parity=line,
                    stopbits=stopbits,
                    profile=profile,
                    timeout_s=timeout_s,
                )
            )
        else:
            values = asyncio.run(_read_once(master, profile, slave, timeout_s))
    except DeviceReadError as exc:
        typer.echo(f"error: {model} slave {slave} at {master.description}: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    for text in format_values(profile, values):
        typer.echo(text)


def _parity_or_exit(parity: str) -> Parity:
    upper = parity.upper()
    if upper == "N":
        return "N"
    if upper == "E":
        return "E"
    if upper == "O":
        return "O"
    typer.echo(f"error: parity {parity!r}: use N, E or O", err=True)
    raise typer.Exit(EXIT_CONFIG)


def format_values(profile: Profile, values: Mapping[str, float | Exception]) -> list[str]:
    """One line per point: name, value in the canonical unit, and a flag when something is off."""
    quantities = load_quantities()
    lines = []
    for point in profile.measurements:
        quantity = quantities[point.quantity]
        value = values.get(point.name)
        if value is None:
            lines.append(f"{point.name:<20} not in the answer")
            continue
        if isinstance(value, InvalidRawError):
            text = f"no valid measurement (raw {value.raw:#x})"
        elif isinstance(value, Exception):
            text = f"unreadable: {value}"
        else:  # the reading the agent would store: canonical unit, the one plausibility rule
            measured = measure(point, quantity, value)
            label = point.label(value)
            shown = "unreadable" if measured.value is None else f"{measured.value:g}"
            text = f"{shown} {quantity.unit}" + (f" ({label})" if label else "")
            text += _FLAG_NOTES.get(measured.flag, "")
        lines.append(f"{point.name:<20} {text}")
    return lines


def _load_or_exit(path: Path) -> EdgeConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _quiet_pymodbus() -> None:
    # pymodbus logs every timeout with a frame dump; the poller reports device
    # failures itself, once when they start and once on recovery.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def _run_agent(path: Path, config: EdgeConfig, config_timeout_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        systemd.notify("STOPPING=1")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping)
    watchdog: list[asyncio.Task[None]] = []

    def started() -> None:
        systemd.notify("READY=1")
        interval_s = systemd.watchdog_interval_s()
        if interval_s is not None:
            watchdog.append(loop.create_task(systemd.keep_watchdog(interval_s), name="watchdog"))

    try:
        supervisor = Supervisor(path, config=config, connect_timeout_s=config_timeout_s)
        await supervisor.run(stop, on_started=started)
    finally:
        for task in watchdog:
            task.cancel()
        await asyncio.gather(*watchdog, return_exceptions=True)


async def _read_ascii_once(
    serial: str | None,
    *,
    baud: int,
    parity: Parity,
    stopbits: int,
    profile: Profile,
    timeout_s: float,
) -> Mapping[str, float | Exception]:
    if serial is None or profile.ascii is None:
        raise DeviceReadError("read", "an ASCII sensor needs --serial PORT")
    link = SerialLink(serial, baud, parity, stopbits)
    try:
        await link.open()
        line = await LineReader(link, profile.ascii).next_line(timeout_s)
        return dict(parse_line(profile.ascii, line))
    except (BusError, NoLineError, AsciiError) as exc:
        raise DeviceReadError("read", str(exc)) from exc
    finally:
        link.close()


async def _read_once(
    master: ModbusMaster, profile: Profile, slave: int, timeout_s: float
) -> PointValues:
    try:
        return await read_points(master, profile, slave, "read", timeout_s=timeout_s)
    finally:
        master.close()
