"""``shanshui edge outbox ...`` and ``shanshui edge status``: the outbox as a technician sees it.

Layer: argument parsing and printing only; the outbox does the work. These
commands open the outbox file next to a running agent safely (SQLite WAL: one
writer at a time, readers never block), so they can be used while it runs.
A batch put back by ``resend`` is sent by a running agent within
``publish.ack_timeout_s``, or at its next start.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from edge.config import EdgeConfig, load_config
from edge.errors import ConfigError, OutboxError
from edge.outbox import OutboxStore
from edge.status import STATUS_FILE
from wire import MalformedError, decode_batch

EXIT_FAILURE = 1
EXIT_CONFIG = 2

app = typer.Typer(help="Inspect the outbox: quarantined batches, export, resend.")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="gateway.yaml")]


@app.command("list")
def list_quarantined(config: ConfigOption = Path("gateway.yaml")) -> None:
    """List the batches the cloud refused (quarantined), oldest first, with the reason."""
    with _outbox(config) as store:
        counts = store.counts()
        kept = store.quarantined()
    typer.echo(
        f"pending readings {counts.pending_readings}, unsent batches {counts.unacked_batches} "
        f"({counts.unacked_readings} readings), quarantined batches {counts.quarantined_batches}"
    )
    for batch in kept:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(batch.quarantined_ms / 1000))
        typer.echo(f"seq {batch.seq}: {batch.readings} readings, {batch.reason}, since {when} UTC")


@app.command()
def export(
    config: ConfigOption = Path("gateway.yaml"),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default: standard output)")
    ] = None,
) -> None:
    """Write the quarantined batches as JSON lines (seq, reason, readings)."""
    with _outbox(config) as store:
        kept = store.quarantined(limit=1_000_000)
    lines = []
    for batch in kept:
        record: dict[str, object] = {
            "seq": batch.seq,
            "reason": batch.reason,
            "quarantined_ms": batch.quarantined_ms,
        }
        try:
            record["readings"] = [
                [r.device, r.quantity, r.time_ms, r.value, r.quality.value]
                for r in decode_batch(batch.payload).readings
            ]
        except MalformedError as exc:
            record["error"] = f"undecodable: {exc}"
        lines.append(json.dumps(record, separators=(",", ":")))
    text = "".join(line + "\n" for line in lines)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"{len(lines)} batch(es) written to {output}", err=True)


@app.command()
def resend(
    seqs: Annotated[list[int] | None, typer.Argument(help="seqs to resend")] = None,
    config: ConfigOption = Path("gateway.yaml"),
    all_: Annotated[bool, typer.Option("--all", help="resend every quarantined batch")] = False,
) -> None:
    """Put quarantined batches back in line to be sent again (after fixing the cause)."""
    if not seqs and not all_:
        typer.echo("error: name the seqs to resend, or --all", err=True)
        raise typer.Exit(EXIT_CONFIG)
    with _outbox(config) as store:
        if not all_ and seqs:
            held = {batch.seq for batch in store.quarantined(limit=1_000_000)}
            missing = sorted(set(seqs) - held)
            if missing:
                listed = ", ".join(str(seq) for seq in missing)
                typer.echo(f"error: not in quarantine: {listed} (see `outbox list`)", err=True)
                raise typer.Exit(EXIT_CONFIG)
        moved = store.resend(None if all_ else seqs)
    typer.echo(f"{moved} batch(es) back in the outbox")


def status(config: ConfigOption = Path("gateway.yaml")) -> None:
    """Print the agent's health: from the running agent, or from the outbox when it is stopped."""
    edge_config = _config(config)
    status_file = edge_config.data_dir / STATUS_FILE
    with _outbox(config) as store:
        counts = store.counts()
    now_ms = int(time.time() * 1000)
    if status_file.exists():
        try:
            body = json.loads(status_file.read_text())
        except (OSError, ValueError) as exc:
            body = {"state": f"unreadable status file ({exc})"}
        age_s = (now_ms - int(body.get("time_ms", 0))) / 1000
        typer.echo(f"agent: {body.get('state', '?')} (as of {age_s:.0f} s ago)")
        for key in ("uptime_s", "link", "clock_synced", "forged_acks"):
            if key in body:
                typer.echo(f"{key.replace('_', ' ')}: {body[key]}")
        for device, entry in body.get("devices", {}).items():
            error = f": {entry['error']}" if entry.get("error") else ""
            typer.echo(f"device {device}: {entry.get('state')}{error}")
    else:
        typer.echo("agent: no status written (not running, or never ran here)")
    oldest = "none" if counts.oldest_ms is None else f"{(now_ms - counts.oldest_ms) / 1000:.0f} s"
    typer.echo(
        f"outbox: {counts.pending_readings} pending readings, {counts.unacked_batches} unsent "
        f"batches ({counts.unacked_readings} readings), oldest unsent {oldest}, "
        f"{counts.quarantined_batches} quarantined, {counts.thinned_readings} readings thinned"
    )
    free = shutil.disk_usage(edge_config.data_dir)
    typer.echo(f"disk free: {free.free // 2**20} MiB of {free.total // 2**20} MiB")


def _config(path: Path) -> EdgeConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


@contextmanager
def _outbox(config: Path) -> Iterator[OutboxStore]:
    data_dir = _config(config).data_dir
    if not (data_dir / "outbox.sqlite3").exists():
        typer.echo(f"error: no outbox in {data_dir}", err=True)
        raise typer.Exit(EXIT_FAILURE)
    try:
        store = OutboxStore.open(data_dir)
    except OutboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    try:
        yield store
    except OutboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    finally:
        store.close()
