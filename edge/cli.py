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
from pathlib import Path
from typing import Annotated

import typer
from pymodbus.client import AsyncModbusTcpClient

from device_profiles import (
    Flag,
    InvalidRawError,
    Profile,
    ProfileError,
    builtin_profile,
    load_quantities,
    measure,
)
from edge.app import Agent
from edge.config import EdgeConfig, describe_config, load_config
from edge.errors import ConfigError, DeviceReadError, EdgeError
from edge.outbox_cli import app as outbox_app
from edge.outbox_cli import status
from edge.polling.device_read import PointValues, read_points

app = typer.Typer(help="The gateway agent and the technician's tools.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.command()(status)

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
) -> None:
    """Run the gateway agent until SIGINT or SIGTERM."""
    edge_config = _load_or_exit(config)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    _quiet_pymodbus()
    try:
        asyncio.run(_run_agent(edge_config))
    except EdgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None


@app.command("check-config")
def check_config(
    config: Annotated[Path, typer.Argument(help="gateway.yaml")] = Path("gateway.yaml"),
) -> None:
    """Validate gateway.yaml (and its secret) and summarise its buses and devices."""
    edge_config = _load_or_exit(config)
    for line in describe_config(edge_config):
        typer.echo(line)
    typer.echo(f"{config.name}: OK")


@app.command()
def read(
    model: Annotated[str, typer.Option(help="Built-in device profile, e.g. jxct-th-rs485.")],
    host: Annotated[str, typer.Option(help="Modbus TCP host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Modbus TCP port.")] = 502,
    slave: Annotated[int, typer.Option(min=1, max=247, help="Modbus slave id.")] = 1,
    timeout_s: Annotated[float, typer.Option(min=0.01, help="Answer timeout, seconds.")] = 1.0,
) -> None:
    """Read every point of one sensor once and print name, value and unit."""
    try:
        profile = builtin_profile(model)
    except ProfileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    _quiet_pymodbus()
    try:
        values = asyncio.run(_read_once(host, port, profile, slave, timeout_s))
    except DeviceReadError as exc:
        typer.echo(f"error: {model} slave {slave} at {host}:{port}: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    for line in format_values(profile, values):
        typer.echo(line)


def format_values(profile: Profile, values: PointValues) -> list[str]:
    """One line per point: name, value, unit, and a flag when something is off."""
    quantities = load_quantities()
    lines = []
    for point in profile.points:
        quantity = quantities[point.quantity]
        value = values.get(point.name)
        if isinstance(value, InvalidRawError):
            text = f"no valid measurement (raw {value.raw:#x})"
        elif isinstance(value, Exception) or value is None:
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


async def _run_agent(config: EdgeConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await Agent(config).run(stop)


async def _read_once(
    host: str, port: int, profile: Profile, slave: int, timeout_s: float
) -> PointValues:
    client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
    try:
        if not await client.connect():
            raise DeviceReadError("read", "cannot connect")
        return await read_points(client, profile, slave, "read")
    finally:
        client.close()
