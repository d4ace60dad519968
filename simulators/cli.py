"""Command line of the simulators (mounted as ``shanshui sim ...``).

Layer: argument parsing and printing only; the simulators do the work.
"""

from __future__ import annotations

from typing import Annotated

import typer

from device_profiles import ProfileError
from simulators.errors import SimulatorError
from simulators.modbus_tcp import SimulatedStation

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
