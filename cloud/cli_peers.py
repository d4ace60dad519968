"""``shanshui cloud hj212 station|command …`` and ``nbiot channels …``: who may send, and commands.

Layer: command line. Parses options, reads the files it is given (the stations
and channels YAML of earlier versions, imported once; a password or key file),
calls :mod:`cloud.storage.hj212_stations` and :mod:`cloud.storage.nbiot_channels`,
and prints one line per record. Passwords and keys are sealed with the operator
key (``SHANSHUI_SECRET_KEY``) like gateway secrets and never printed. A change
applies to the running listeners at their next packet or frame. ``hj212
command`` queues a command for a logger and waits for the listener holding its
connection to carry it out (:mod:`cloud.ingest.hj212_command_queue`). No SQL here.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer

from cloud.cli_common import EXIT_UNAVAILABLE, actor, reports_errors, with_storage
from cloud.errors import ConfigError
from cloud.ingest.hj212_stations import SM4_KEY_BYTES, load_stations
from cloud.ingest.nbiot_channels import load_channel_tables
from cloud.storage import Storage
from cloud.storage import hj212_commands as commands
from cloud.storage import hj212_stations as stations
from cloud.storage import nbiot_channels as channels
from wire import Hj212Error
from wire.hj212 import command_packet

hj212_app = typer.Typer(help="HJ 212: the data loggers the cloud accepts.", no_args_is_help=True)
station_app = typer.Typer(help="HJ 212 stations: add, list, remove, import.", no_args_is_help=True)
hj212_app.add_typer(station_app, name="station")
nbiot_app = typer.Typer(help="NB-IoT: the gateways' channel tables.", no_args_is_help=True)
channels_app = typer.Typer(help="Channel tables: import, list, remove.", no_args_is_help=True)
nbiot_app.add_typer(channels_app, name="channels")


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the {what}: {getattr(exc, 'strerror', exc)}"
        ) from None
    if not text:
        raise ConfigError(f"{path}: the {what} file is empty")
    return text


def _sm4_key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        key = bytes.fromhex(_read_secret(path, "SM4 key"))
    except ValueError:
        key = b""
    if len(key) != SM4_KEY_BYTES:
        raise ConfigError(f"{path}: must hold the 16-byte SM4 key as 32 hex digits")
    return key


@station_app.command("add")
@reports_errors
def station_add(
    mn: Annotated[str, typer.Argument(help="The logger's MN (1-27 letters and digits).")],
    gateway: Annotated[str, typer.Option(help="The registered gateway its readings go under.")],
    password_file: Annotated[Path, typer.Option(help="File holding the logger's password (PW).")],
    edition: Annotated[Literal["2017", "2025"], typer.Option(help="HJ 212 edition.")] = "2017",
    sm4_key_file: Annotated[
        Path | None, typer.Option(help="Edition 2025: file with the SM4 key, 32 hex digits.")
    ] = None,
) -> None:
    """Add a data logger, or replace the one with this MN (applies at its next packet)."""
    password = _read_secret(password_file, "password")
    key = _sm4_key(sm4_key_file)

    async def put(storage: Storage) -> None:
        await stations.put_station(
            storage, mn, gateway, password, edition=edition, sm4_key=key, actor=actor()
        )

    with_storage(put, sealing=True)
    typer.echo(f"station {mn} -> {gateway} (HJ 212-{edition})")


@station_app.command("list")
@reports_errors
def station_list() -> None:
    """One line per station: MN, gateway, edition (no secrets)."""
    rows = with_storage(stations.list_stations)
    for row in rows:
        typer.echo(f"{row.mn:<28} {row.gateway_id:<24} HJ 212-{row.edition}")
    if not rows:
        typer.echo("no stations", err=True)


@station_app.command("remove")
@reports_errors
def station_remove(mn: Annotated[str, typer.Argument(help="The logger's MN.")]) -> None:
    """Forget a station: its logger is refused from its next packet on."""
    with_storage(lambda storage: stations.remove_station(storage, mn, actor=actor()))
    typer.echo(f"removed station {mn}")


@station_app.command("import")
@reports_errors
def station_import(
    path: Annotated[Path, typer.Argument(help="A stations.yaml of earlier versions.")],
) -> None:
    """Import a SHANSHUI_HJ212_STATIONS_FILE once (all checked before any is written)."""
    loaded = load_stations(path)

    async def put_all(storage: Storage) -> None:
        for station in loaded.values():
            key = None if station.cipher is None else station.cipher.key
            await stations.put_station(
                storage,
                station.mn,
                station.gateway_id,
                station.password,
                edition=station.edition.value,
                sm4_key=key,
                actor=actor(),
            )

    with_storage(put_all, sealing=True)
    typer.echo(f"imported {len(loaded)} station(s); SHANSHUI_HJ212_STATIONS_FILE can be unset")


@channels_app.command("import")
@reports_errors
def channels_import(
    path: Annotated[Path, typer.Argument(help="A channels.yaml ('gateways:' list).")],
) -> None:
    """Store each gateway's table of a file, replacing the one it had (all checked first)."""
    tables = load_channel_tables(path)

    async def put_all(storage: Storage) -> None:
        for gateway, table in tables.items():
            await channels.set_channels(storage, gateway, table, actor=actor())

    with_storage(put_all)
    typer.echo(f"imported the channel tables of {len(tables)} gateway(s)")


@channels_app.command("list")
@reports_errors
def channels_list(
    gateway: Annotated[str | None, typer.Argument(help="Only this gateway.")] = None,
) -> None:
    """One line per channel: gateway, position, device, quantity, decimals."""
    tables = with_storage(channels.list_channels)
    shown = 0
    for name, table in tables.items():
        if gateway is not None and name != gateway:
            continue
        for i, channel in enumerate(table):
            typer.echo(
                f"{name:<24} {i:>4} {channel.device:<20} {channel.quantity:<24} {channel.decimals}"
            )
            shown += 1
    if not shown:
        typer.echo("no channel tables", err=True)


@channels_app.command("remove")
@reports_errors
def channels_remove(gateway: Annotated[str, typer.Argument(help="The gateway.")]) -> None:
    """Remove a gateway's table: its frames are refused (no_channel_table) from now on."""
    with_storage(lambda storage: channels.set_channels(storage, gateway, (), actor=actor()))
    typer.echo(f"removed the channel table of {gateway}")


_ACTIONS = {"get-time": "1011", "set-time": "1012", "get-interval": "1061", "set-interval": "1062"}
_POLL_S = 0.25


@hj212_app.command("command")
@reports_errors
def hj212_command(
    mn: Annotated[str, typer.Argument(help="The logger's MN.")],
    action: Annotated[
        Literal["get-time", "set-time", "get-interval", "set-interval"],
        typer.Argument(help="1011 get-time, 1012 set-time, 1061 get-interval, 1062 set-interval."),
    ],
    value: Annotated[
        str | None,
        typer.Argument(help="set-time: YYYYMMDDhhmmss (Beijing); set-interval: seconds."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.", min=1)] = 60,
) -> None:
    """Send a command to a logger through the listener it is connected to; print the answer."""
    cn = _ACTIONS[action]
    try:  # the value checked here, not by a listener later
        command_packet(cn, st="22", pw="-", mn=mn, qn="20000101000000000", value=value)
    except Hj212Error as exc:
        raise ConfigError(str(exc)) from None

    async def run(storage: Storage) -> commands.QueuedCommand:
        ttl = timedelta(seconds=timeout)
        command_id = await commands.queue_command(storage, mn, cn, value, ttl=ttl, actor=actor())
        deadline = time.monotonic() + timeout + 5
        while True:
            found = await commands.get_command(storage, command_id)
            if found.state in (commands.DONE, commands.FAILED) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(_POLL_S)  # another process answers: look again

    found = with_storage(run)
    values = " ".join(f"{k}={v}" for k, v in (found.result or {}).items())
    typer.echo(f"{mn} CN {cn}: {found.state} QnRtn={found.qn_rtn} ExeRtn={found.exe_rtn} {values}")
    if found.state != commands.DONE:
        raise typer.Exit(EXIT_UNAVAILABLE)
