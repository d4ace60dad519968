"""``shanshui cloud retention run``: delete what the deployment no longer keeps, now.

Layer: command line. The ingest workers do the same every hour
(:mod:`cloud.ingest.housekeeping`); this runs one round at once, for a cron job
of a deployment without workers or after shortening a retention.
"""

from __future__ import annotations

import typer

from cloud.cli_common import reports_errors, with_storage
from cloud.settings import load_settings

retention_app = typer.Typer(
    help="Delete old readings (plain PostgreSQL), batch-log rows and dead letters.",
    no_args_is_help=True,
)


@retention_app.command("run")
@reports_errors
def run() -> None:
    """Delete readings older than SHANSHUI_RETENTION_DAYS (plain PostgreSQL; TimescaleDB's
    policy does it there), the batch log beyond SHANSHUI_BATCH_LOG_RETENTION_DAYS and dead
    letters beyond SHANSHUI_DEAD_LETTER_RETENTION_DAYS, in bounded chunks."""
    from cloud.ingest.housekeeping import prune  # noqa: PLC0415 - keeps paho out of --help
    from cloud.ingest.outcomes import IngestPolicy  # noqa: PLC0415

    policy = IngestPolicy.from_settings(load_settings())
    pruned = with_storage(lambda storage: prune(storage, policy))
    kept = policy.readings_retention_days
    readings = f"{pruned.readings} readings" if kept is not None else "no readings (kept forever)"
    typer.echo(
        f"deleted {readings}, {pruned.batches} batch-log rows, {pruned.dead_letters} dead letters"
    )
