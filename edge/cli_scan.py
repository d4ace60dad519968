"""``shanshui edge scan``: the technician's bus scanner (argument parsing and printing).

Layer: CLI only; :mod:`edge.scan` does the work. Progress goes to stderr as a
bar with the probes done and an estimate of the time left, so stdout holds only
the devices found (one line each), fit for a script.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from device_profiles import Profile, ProfileError, builtin_profile, profile_names
from edge.bus_config import STANDARD_BAUDS, check_slave
from edge.bus_timing import Parity
from edge.errors import BusError, EdgeError
from edge.polling.buses import master_for_line
from edge.polling.modbus_master import ModbusMaster
from edge.scan import (
    FoundDevice,
    LineSetting,
    MasterFactory,
    ScanProgress,
    scan,
    set_address,
)

EXIT_FAILURE, EXIT_CONFIG = 1, 2
DEFAULT_BAUDS = "2400,4800,9600,19200,38400,57600,115200"
_PARITIES: dict[str, Parity] = {"N": "N", "E": "E", "O": "O"}


def scan_command(
    *,
    serial: Annotated[str | None, typer.Option(help="Serial port, e.g. /dev/ttyUSB0.")] = None,
    host: Annotated[
        str | None, typer.Option(help="RS-485-to-Ethernet converter (RTU over TCP).")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Converter TCP port.")] = 502,
    baud: Annotated[str, typer.Option(help="Baud rates to try, comma-separated.")] = DEFAULT_BAUDS,
    parity: Annotated[str, typer.Option(help="Parities to try: N, E, O, comma-separated.")] = "N",
    slaves: Annotated[str, typer.Option(help="Addresses to try: 1-247, or 1,2,10-20.")] = "1-247",
    timeout_s: Annotated[float, typer.Option(min=0.005, help="Answer timeout per probe.")] = 0.15,
    set_address_to: Annotated[
        str | None,
        typer.Option("--set-address", help="OLD:NEW: give the device found at OLD address NEW."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Only try this profile (default: the whole library).")
    ] = None,
) -> None:
    """Find Modbus devices on a serial port or converter and suggest their profiles."""
    if (serial is None) == (host is None):
        _fail("give --serial PORT or --host CONVERTER", EXIT_CONFIG)
    try:
        lines = [LineSetting(b, p) for b in _bauds(baud) for p in _parities(parity)]
        addresses = _addresses(slaves)
        change = _change(set_address_to)
        candidates = _candidates(model)
    except (ValueError, ProfileError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    if host is not None:
        lines = lines[:1]  # the converter sets the RS-485 line; only addresses vary

    def master_for(line: LineSetting) -> ModbusMaster:
        return master_for_line(
            serial_port=serial,
            host=host or "",
            tcp_port=port,
            rtu_over_tcp=True,
            baudrate=line.baudrate,
            parity=line.parity,
            timeout_s=max(timeout_s, 1.0),
        )

    try:
        found = asyncio.run(_scan(master_for, lines, addresses, candidates, timeout_s))
    except EdgeError as exc:
        _fail(str(exc), EXIT_FAILURE)
    for device in found:
        typer.echo(describe(device))
    typer.echo(f"{len(found)} device(s) found")
    if change is not None:
        _change_address(found, change, candidates, master_for, timeout_s)


def describe(device: FoundDevice) -> str:
    """``slave 17 at 4800 8N1: jxct-soil, ...`` (or ``no matching profile``)."""
    models = ", ".join(device.models) if device.models else "no matching profile"
    return f"slave {device.slave} at {device.line}: {models}"


async def _scan(
    master_for: MasterFactory,
    lines: list[LineSetting],
    addresses: list[int],
    candidates: list[Profile],
    timeout_s: float,
) -> list[FoundDevice]:
    columns = (
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("found {task.fields[found]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("scan", total=len(lines) * len(addresses), found=0)

        def show(progress: ScanProgress) -> None:
            bar.update(task, completed=progress.done, found=progress.found)

        return await scan(
            master_for,
            lines,
            addresses,
            candidates,
            timeout_s=timeout_s,
            progress=show,
        )


def _change_address(
    found: list[FoundDevice],
    change: tuple[int, int],
    candidates: list[Profile],
    master_for: MasterFactory,
    timeout_s: float,
) -> None:
    old, new = change
    device = next((d for d in found if d.slave == old), None)
    if device is None:
        _fail(f"no device found at address {old}", EXIT_FAILURE)
    profile = _address_profile(old, device, candidates)
    master = master_for(device.line)
    try:
        done = asyncio.run(_write_address(master, profile, old, new, timeout_s))
    except (EdgeError, BusError) as exc:
        _fail(f"slave {old}: {exc}", EXIT_FAILURE)
    if done:
        typer.echo(f"slave {old} is now slave {new} ({profile.model})")
    else:
        typer.echo(f"slave {old} will be slave {new} after a power cycle ({profile.model})")


def _address_profile(old: int, device: FoundDevice, candidates: list[Profile]) -> Profile:
    """The one profile that matched the device at ``old``, else exit.

    Several profiles often read plausibly from one device; writing the address
    register of the wrong one changes nothing, or another setting.
    """
    if not device.models:
        _fail(f"slave {old}: no profile matched; give --model", EXIT_FAILURE)
    if len(device.models) > 1:
        names = ", ".join(device.models)
        _fail(f"slave {old} matches several profiles ({names}): give --model", EXIT_FAILURE)
    return next(p for p in candidates if p.model == device.models[0])


async def _write_address(
    master: ModbusMaster, profile: Profile, old: int, new: int, timeout_s: float
) -> bool:
    try:
        return await set_address(master, profile, old, new, max(timeout_s, 0.5))
    finally:
        master.close()


def _number(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a whole number") from None


def _bauds(text: str) -> list[int]:
    bauds = [_number(part, "baud rate") for part in text.split(",") if part.strip()]
    for value in bauds:
        if value not in STANDARD_BAUDS:
            raise ValueError(f"baud rate {value}: use one of {STANDARD_BAUDS}")
    return bauds


def _parities(text: str) -> list[Parity]:
    result: list[Parity] = []
    for part in text.upper().split(","):
        if part not in _PARITIES:
            raise ValueError(f"parity {part!r}: use N, E or O")
        result.append(_PARITIES[part])
    return result


def _addresses(text: str) -> list[int]:
    addresses: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        low, high = _number(first, "address"), _number(last or first, "address")
        addresses.extend(check_slave(a) for a in range(low, high + 1))
    return addresses


def _change(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    old, sep, new = text.partition(":")
    if not sep:
        raise ValueError("--set-address takes OLD:NEW, e.g. 1:17")
    return check_slave(_number(old, "address")), check_slave(_number(new, "address"))


def _candidates(model: str | None) -> list[Profile]:
    if model is not None:
        return [builtin_profile(model)]
    return [builtin_profile(name) for name in profile_names()]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
