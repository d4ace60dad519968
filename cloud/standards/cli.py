"""``shanshui standards aqi|water|noise``: check a number against a standard by hand.

Layer: command line. Parses ``code=value`` arguments and options, resolves codes
through the vocabulary (``quantities.yaml``, HJ 212 codes too), calls the pure
functions of :mod:`cloud.standards` and prints text or ``--json``. A mistake
(unknown code, bad number, bad file line) is one line on stderr and exit 2,
never a traceback. Needs no database and no cloud extra.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from cloud.standards import aqi as air
from cloud.standards import noise, water
from cloud.standards.codes import ItemCodes, code_book
from cloud.standards.errors import InvalidValueError, StandardsError
from cloud.standards.report import aqi_dict, noise_dict, water_dict
from device_profiles import ProfileError, load_quantities

P = ParamSpec("P")
R = TypeVar("R")
EXIT_USAGE = 2

app = typer.Typer(
    help="Check numbers against China's standards: AQI (HJ 633), water class (GB 3838), "
    "noise (GB 3096).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

ValuesArg = Annotated[
    list[str], typer.Argument(help="code=value pairs; codes of quantities.yaml or HJ 212.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except StandardsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None

    return run


@app.command("aqi")
@_reports_errors
def aqi_command(
    values: ValuesArg,
    hourly: Annotated[
        bool, typer.Option("--hourly/--daily", help="Real-time (1-h) or daily (24-h) report.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """IAQI of each pollutant, AQI, level, category, colour and primary pollutants.

    Codes: so2 no2 pm10 pm2_5 co (24-h means, or 1-h with --hourly), o3 (1-h; daily:
    the day's highest), o3_8h (8-h moving mean; daily: the day's highest), so2_24h
    (--hourly, needed when the 1-h SO2 is above 800). µg/m³, CO in mg/m³.

    Example: shanshui standards aqi pm2_5=80 pm10=120 so2=10 no2=40 co=0.8 o3_8h=120
    """
    result = air.air_quality_index(
        _parse(values, air.POLLUTANTS), mode="hourly" if hourly else "daily"
    )
    if as_json:
        _print_json(aqi_dict(result))
        return
    typer.echo(f"HJ 633-2012, {result.mode} report")
    for sub in result.sub_indices:
        note = f"  ({sub.note})" if sub.note else ""
        beyond = "  (beyond the scale)" if sub.beyond_scale else ""
        unit = air.UNITS[sub.pollutant]
        line = f"  {sub.pollutant:<7} {sub.concentration:>9g} {unit:<6} IAQI {sub.iaqi:>3}"
        typer.echo(line + beyond + note)
    level = result.level
    typer.echo(
        f"AQI {result.aqi}: {level.name} ({level.roman}), {level.category} "
        f"{level.category_en}, {level.colour_name} {level.hex} rgb{level.rgb}"
    )
    typer.echo(f"primary pollutants: {', '.join(result.primary) or 'none (AQI ≤ 50)'}")
    if result.exceeding:
        typer.echo(f"exceeding (IAQI > 100): {', '.join(result.exceeding)}")


@app.command("water")
@_reports_errors
def water_command(
    values: ValuesArg,
    lake: Annotated[
        bool, typer.Option("--lake/--river", help="Lake or reservoir limits (TP, TN).")
    ] = False,
    target: Annotated[
        str | None, typer.Option(help="The section's target class (I..V), to compare with.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Class per item and overall (GB 3838-2002), with the deciding items.

    Codes (mg/L): ph, dissolved_oxygen (do), permanganate_index (codmn), cod, bod5,
    ammonia_nitrogen (nh3_n), total_phosphorus (tp), total_nitrogen (tn), copper, zinc,
    fluoride, selenium, arsenic, mercury, cadmium, chromium_vi, lead, cyanide,
    volatile_phenol, petroleum, anionic_surfactant, sulfide, fecal_coliform (per L).

    Example: shanshui standards water do=5.5 ammonia_nitrogen=0.4 total_phosphorus=0.12
    """
    goal = water.WaterClass.parse(target) if target is not None else None
    result = water.classify(_parse(values, water.ITEMS), "lake" if lake else "river")
    if as_json:
        _print_json(water_dict(result, goal))
        return
    typer.echo(f"GB 3838-2002, {'lake/reservoir' if lake else 'river'}")
    for item in result.items:
        label = item.water_class.label if item.water_class else "-"
        note = f"  ({item.note})" if item.note else ""
        unit = water.UNITS[item.item]
        typer.echo(f"  {item.item:<20} {item.value:>9g} {unit:<4} class {label}{note}")
    status, status_en = water.STATUS[result.overall]
    typer.echo(f"class {result.overall.label} ({result.overall.label_en}): {status} {status_en}")
    typer.echo(f"deciding: {', '.join(result.deciding)}")
    main = water.main_pollutants(result)
    if main:
        named = [f"{p.item}/{p.multiple:.2g}" if p.multiple else p.item for p in main]
        typer.echo(f"main pollutants (multiple over class III): {', '.join(named)}")
    if goal is not None:
        worse = water.worse_than(result, goal)
        verdict = "meets" if not worse else "misses"
        names = f": {', '.join(i.item for i in worse)}" if worse else ""
        typer.echo(f"target class {goal.label}: {verdict}{names}")


@app.command("noise")
@_reports_errors
def noise_command(
    *,
    zone: Annotated[str, typer.Option(help="Functional zone: 0, 1, 2, 3, 4a, 4b.")],
    ld: Annotated[float | None, typer.Option(help="Day level Ld, dB(A).")] = None,
    ln: Annotated[float | None, typer.Option(help="Night level Ln, dB(A).")] = None,
    lmax_night: Annotated[
        float | None, typer.Option(help="Highest night-time level Lmax, dB(A).")
    ] = None,
    readings: Annotated[
        Path | None,
        typer.Option(
            help="CSV of 'ISO-8601 time with offset,level' lines at equal intervals "
            "(the highest night reading is taken as Lmax unless --lmax-night is given)."
        ),
    ] = None,
    tz: Annotated[str, typer.Option(help="Local time zone of day and night.")] = (noise.DEFAULT_TZ),
    as_json: JsonOpt = False,
) -> None:
    """Ld, Ln (and Ldn) against the zone limits of GB 3096-2008.

    Example: shanshui standards noise --zone 1 --ld 58 --ln 48
    """
    levels = None
    if readings is not None:
        if ld is not None or ln is not None:
            raise InvalidValueError("--readings", str(readings), "excludes --ld and --ln")
        levels = noise.day_night(_read_levels(readings), tz)
        ld, ln = levels.ld, levels.ln
        lmax_night = levels.night_max if lmax_night is None else lmax_night
    elif ld is None and ln is None and lmax_night is None:
        raise InvalidValueError("noise", "", "needs --ld, --ln, --lmax-night or --readings")
    result = noise.assess(zone, ld, ln, lmax_night)
    if as_json:
        _print_json(noise_dict(result, levels))
        return
    typer.echo(f"GB 3096-2008, zone {result.zone}")
    _print_level("day   Ld", result.ld, result.day_limit, result.day_exceedance_db)
    _print_level("night Ln", result.ln, result.night_limit, result.night_exceedance_db)
    _print_level(
        "night Lmax", result.lmax_night, result.night_max_limit, result.night_max_exceedance_db
    )
    if levels is not None:
        ldn = "-" if levels.ldn is None else f"{levels.ldn:.1f} dB(A)"
        typer.echo(f"  Ldn {ldn}  ({levels.day_count} day, {levels.night_count} night readings)")


def _print_level(name: str, level: float | None, limit: float, over: float | None) -> None:
    if level is None:
        return
    verdict = f"over by {over:.1f} dB" if over else "within"
    typer.echo(f"  {name:<10} {level:5.1f} dB(A)  limit {limit:g}  {verdict}")


def _parse(values: Iterable[str], items: Mapping[str, ItemCodes]) -> dict[str, float]:
    try:
        vocabulary = load_quantities()
    except ProfileError:  # a broken vocabulary must not stop a hand calculation
        vocabulary = None
    book = code_book(items, vocabulary)
    parsed: dict[str, float] = {}
    for pair in values:
        code, sep, text = pair.partition("=")
        if not sep or not code.strip():
            raise InvalidValueError(pair, pair, "is not code=value")
        item = book.resolve(code)
        if item in parsed:
            raise InvalidValueError(code, text, f"repeats {item}")
        parsed[item] = _number(code, text)
    return parsed


def _number(code: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidValueError(code, text, "is not a number") from None


def _read_levels(path: Path) -> list[tuple[datetime, float]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidValueError("--readings", str(path), f"cannot be read ({exc})") from None
    out: list[tuple[datetime, float]] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        stamp, sep, level = text.partition(",")
        where = f"{path}:{number}"
        if not sep:
            raise InvalidValueError(where, text, "is not 'time,level'")
        try:
            moment = datetime.fromisoformat(stamp.strip())
        except ValueError:
            raise InvalidValueError(where, stamp, "is not an ISO 8601 time") from None
        if moment.utcoffset() is None:
            raise InvalidValueError(where, stamp, "has no UTC offset (e.g. +08:00)")
        out.append((moment, _number(where, level.strip())))
    if not out:
        raise InvalidValueError("--readings", str(path), "holds no reading")
    return out


def _print_json(data: Mapping[str, Any]) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
