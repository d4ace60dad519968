"""The ``shanshui`` command.

shanshui edge ...    the gateway agent and the technician's tools
shanshui cloud ...   migrations, API, ingest workers, gateway registry
shanshui sim ...     simulated sensors and stations
shanshui profiles .. the library of sensor-model profiles (list, show, check)
shanshui hj212 ...   HJ 212 packets to JSON and back
shanshui standards ... AQI, surface-water class and noise levels, by hand
shanshui demo        everything at once, on loopback
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from cloud.standards.cli import app as standards_app  # pure: no cloud extra needed
from device_profiles.cli import app as profiles_app
from edge.cli import app as edge_app
from shanshui.hj212 import app as hj212_app
from simulators.cli import app as sim_app

_CLOUD_MISSING: str | None
cloud_app: typer.Typer | None
try:
    from cloud.cli import app as cloud_app
except ModuleNotFoundError as missing:  # a gateway install: pip install shanshui
    _CLOUD_MISSING, cloud_app = missing.name, None
else:
    _CLOUD_MISSING = None

app = typer.Typer(
    help="Shanshui: edge gateway and cloud for environmental and agricultural sensing.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(edge_app, name="edge", help="The gateway agent and the technician's tools.")
if cloud_app is not None:
    app.add_typer(
        cloud_app, name="cloud", help="Migrations, API, ingest workers, gateway registry."
    )
app.add_typer(sim_app, name="sim", help="Simulated sensors and stations.")
app.add_typer(profiles_app, name="profiles", help="List, show and check sensor-model profiles.")
app.add_typer(hj212_app, name="hj212", help="Decode and encode HJ 212 packets (2017, 2025).")
app.add_typer(standards_app, name="standards", help="AQI, water class and noise by hand.")


if cloud_app is None:

    @app.command(
        "cloud",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Not installed here: pip install 'shanshui\\[cloud]'.",
    )
    def _cloud_missing() -> None:
        _needs_cloud()


def _needs_cloud() -> None:
    typer.echo(
        f"the cloud part of Shanshui is not installed ({_CLOUD_MISSING} is missing): "
        "pip install 'shanshui[cloud]'",
        err=True,
    )
    raise typer.Exit(2)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    level = logging.DEBUG if verbose else os.environ.get("SHANSHUI_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database, outbox and logs.")
    ] = Path(".shanshui/demo"),
) -> None:
    """Start broker, database, cloud, a simulated station and the edge agent; Ctrl-C stops all."""
    if _CLOUD_MISSING is not None:
        _needs_cloud()
    from shanshui.demo import DemoError, run_demo  # noqa: PLC0415 - needs the cloud extra

    logging.getLogger().setLevel(logging.WARNING)  # the demo talks in its own words
    try:
        run_demo(data_dir.resolve())
    except DemoError as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from None
