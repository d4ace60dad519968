"""Command line of the profile library (mounted as ``shanshui profiles ...``).

Layer: argument parsing and printing only; validation is the loader's. A broken
file prints one ``file:line: key: message`` line per problem and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device_profiles.ascii_schema import AsciiField
from device_profiles.errors import ProfileError
from device_profiles.loader import (
    builtin_profile,
    check_files,
    library_files,
    load_profile,
    load_quantities,
    profile_names,
)
from device_profiles.measure import unit_of
from device_profiles.measurement import Measurement
from device_profiles.schema import FUNCTION_CODES, Point, Profile, Quantity
from device_profiles.settings import Setting

app = typer.Typer(help="The library of sensor-model profiles.", no_args_is_help=True)

EXIT_PROBLEMS = 1
_TABLES = {code: table for table, code in FUNCTION_CODES.items()}


@app.callback()
def main() -> None:
    """List, show and check the sensor-model profiles."""


@app.command("list")
def list_profiles() -> None:
    """List the library: model, protocol, manufacturer, what it measures."""
    for name in profile_names():
        try:
            profile = builtin_profile(name)
        except ProfileError as exc:
            typer.echo(f"{name:<24} BROKEN: {str(exc).splitlines()[0]}")
            continue
        quantities = ", ".join(dict.fromkeys(m.quantity for m in profile.measurements))
        mark = "" if profile.verified else "  (unverified map)"
        typer.echo(
            f"{name:<24} {profile.protocol:<6} {profile.manufacturer[:28]:<28} {quantities}{mark}"
        )


@app.command()
def show(
    model: Annotated[str, typer.Argument(help="A library model (e.g. jxct-th-rs485) or a file.")],
) -> None:
    """Show one model: its serial defaults, every point with its unit, its settings."""
    try:
        path = Path(model)
        profile = load_profile(path) if path.suffix in {".yaml", ".yml"} else builtin_profile(model)
        quantities = load_quantities()
    except ProfileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_PROBLEMS) from None
    for line in describe_profile(profile, quantities):
        typer.echo(line)


@app.command()
def check(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Profile files (default: the whole library).")
    ] = None,
) -> None:
    """Validate profile files (default: every file of the library) against the vocabulary."""
    paths = files or library_files()
    problems = check_files(paths)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {len(paths)} file(s)", err=True)
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(f"{len(paths)} profile(s) OK")


def describe_profile(profile: Profile, quantities: dict[str, Quantity]) -> list[str]:
    """Human description of ``profile``: header, one line per point, settings."""
    lines = [
        f"{profile.model}: {profile.description}",
        f"  manufacturer {profile.manufacturer}",
        f"  source       {profile.source}" + ("" if profile.verified else "  (UNVERIFIED)"),
    ]
    if profile.ascii is not None:
        line = profile.ascii.serial
        request = repr(profile.ascii.request) if profile.ascii.request else "none (streams)"
        lines.append(
            f"  ascii        {line.baudrate} {line.bytesize}{line.parity}{line.stopbits}, "
            f"request {request}"
        )
    else:
        modbus = profile.modbus
        serial = modbus.serial
        lines.append(
            f"  modbus       slave {modbus.default_slave}, "
            f"{serial.baudrate} {serial.bytesize}{serial.parity}{serial.stopbits}"
        )
    lines.append("  points:")
    for item in profile.measurements:
        quantity = quantities[item.quantity]
        own = unit_of(item, quantity)
        unit = quantity.unit if own == quantity.unit else f"{own} -> {quantity.unit}"
        where = _where(item) if isinstance(item, Point) else _field(item)
        extra = []
        if item.scale != 1 or item.offset != 0:
            extra.append(f"x{item.scale:g}" + (f" {item.offset:+g}" if item.offset else ""))
        if item.valid is not None:
            extra.append(f"valid {item.valid.min:g}..{item.valid.max:g} {own}")
        if item.enum is not None:
            extra.append("codes " + ", ".join(f"{k}={v}" for k, v in item.enum.items()))
        if isinstance(item, Point) and item.invalid_raw:
            extra.append("sentinels " + ", ".join(f"{r:#x}" for r in item.invalid_raw))
        lines.append(
            f"    {item.name:<18} {item.quantity:<22} {unit:<14} {where}"
            + (f"  ({'; '.join(extra)})" if extra else "")
        )
    if profile.modbus.settings and profile.ascii is None:
        lines.append("  settings:")
        lines.extend(f"    {_setting(s)}" for s in profile.modbus.settings)
    return lines


def _field(item: Measurement) -> str:
    return f"field {item.field!r}" if isinstance(item, AsciiField) else ""


def _where(point: Point) -> str:
    order = "" if point.word_order == "big" else " CDAB"
    if point.byte_order == "little":
        order = " BADC" if point.word_order == "big" else " DCBA"
    return (
        f"FC{point.function_code:02d} {_TABLES[point.function_code]} {point.address:#06x} "
        f"{point.data_type}{order}"
    )


def _setting(setting: Setting) -> str:
    if setting.codes is not None:
        values = "codes " + ", ".join(f"{k}={v}" for k, v in setting.codes.items())
    else:
        values = f"{setting.min}..{setting.max}"
    steps = f", unlock {len(setting.before)} write(s)" if setting.before else ""
    steps += f", save {len(setting.after)} write(s)" if setting.after else ""
    return (
        f"{setting.name:<18} {setting.address:#06x} FC{setting.write_function_code:02d} "
        f"{values}{steps}"
    )
