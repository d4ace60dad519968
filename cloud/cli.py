"""``shanshui cloud …``: the platform operator's commands.

Layer: command line. Parses options, picks configured or embedded servers
(:mod:`cloud.services`), calls migrate / storage / the API, and turns
:class:`cloud.errors.CloudError` into one line on stderr and an exit code:
2 for mistakes the operator can fix (settings, identifiers, migrations),
1 when a server cannot be reached. No SQL here; no tracebacks for known errors.
Secrets are printed only where asked for (``gateway add``), never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from cloud import services
from cloud.alarms.child import EvaluatorChild
from cloud.cli_alarms import alarms_app, rules_app
from cloud.cli_common import EXIT_USAGE, actor
from cloud.cli_common import reports_errors as _reports_errors
from cloud.cli_contacts import contacts_app
from cloud.cli_gateways import register_gateway_commands
from cloud.cli_keys import key_app, share_app, site_app
from cloud.cli_peers import hj212_app, nbiot_app
from cloud.cli_remote import register_remote_commands, rotate_and_push
from cloud.cli_retention import retention_app
from cloud.migrate import migrate as apply_migrations
from cloud.settings import (
    MqttEndpoint,
    Settings,
    embedded_servers,
    embedded_warning,
    load_settings,
)
from cloud.storage import DeadLetter, Storage
from cloud.storage.policies import configure_policies
from cloud.storage.rollup_zone import configure_rollup_zone
from cloud.storage.sealing import SecretKey

_DETAIL_COLUMN = 60
log = logging.getLogger(__name__)

app = typer.Typer(
    help="Migrations, API, ingest workers, gateway registry.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
gateway_app = typer.Typer(help="The gateway registry.", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")
register_gateway_commands(gateway_app)
register_remote_commands(gateway_app)
app.add_typer(key_app, name="key")
app.add_typer(share_app, name="share")
app.add_typer(site_app, name="site")
app.add_typer(alarms_app, name="alarms")
app.add_typer(rules_app, name="rules")
app.add_typer(retention_app, name="retention")
app.add_typer(contacts_app, name="contacts")
app.add_typer(hj212_app, name="hj212")
app.add_typer(nbiot_app, name="nbiot")


@app.command()
@_reports_errors
def migrate() -> None:
    """Apply pending database migrations (an embedded database when none is configured).

    With SHANSHUI_SECRET_KEY, seal gateway secrets still stored in plaintext.

    Daily rollups follow SHANSHUI_ROLLUP_TIME_ZONE's days (rebuilt when it changed).
    On TimescaleDB, then (re)apply the deployment's policies: columnstore age
    (SHANSHUI_COMPRESS_AFTER_DAYS) and retention (SHANSHUI_RETENTION_DAYS).
    """
    settings = load_settings()
    key = None
    if settings.secret_key is not None or settings.database_conninfo() is None:
        key = services.secret_key(settings)
    with services.database(settings) as conninfo:
        applied = apply_migrations(conninfo)
        rebuilt = configure_rollup_zone(conninfo, settings.rollup_time_zone)
        timescale = configure_policies(
            conninfo,
            compress_after_days=settings.compress_after_days,
            retention_days=settings.retention_days,
        )
        sealed = None if key is None else asyncio.run(_seal_secrets(conninfo, key))
    typer.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")
    if rebuilt:
        typer.echo(f"daily rollups rebuilt as {settings.rollup_time_zone} days")
    if sealed:
        typer.echo(f"sealed {sealed} plaintext gateway secret(s) under SHANSHUI_SECRET_KEY")
    elif key is None:
        typer.echo(
            "warning: SHANSHUI_SECRET_KEY is not set: plaintext gateway secrets stay as they are "
            "(serve and ingest refuse to start without it)",
            err=True,
        )
    if timescale:
        retention = f"{settings.retention_days} days" if settings.retention_days else "none"
        typer.echo(
            f"TimescaleDB: columnstore after {settings.compress_after_days} days, "
            f"retention {retention}"
        )


@app.command()
@_reports_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [SHANSHUI_HTTP_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [SHANSHUI_HTTP_PORT].")] = None,
    ingest: Annotated[bool, typer.Option(help="Run an ingest worker in-process.")] = True,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
) -> None:
    """Serve the HTTP API with an in-process ingest worker and an alarm evaluator beside it.

    Without SHANSHUI_DATABASE_URL / SHANSHUI_MQTT_URL, an embedded PostgreSQL and
    MQTT broker are started, and stopped again on exit. The alarm evaluator is a
    child process (``alarms run``); SHANSHUI_ALARM_EVALUATOR=false leaves it out.
    """
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from cloud.api import create_app  # noqa: PLC0415 - keeps `shanshui --help` fast

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["http_host"] = host
    if port is not None:
        overrides["http_port"] = port
    settings = load_settings(**overrides)
    key = services.secret_key(settings)
    embedded = embedded_servers(settings, broker=ingest)
    if embedded:
        warning = embedded_warning(embedded)
        log.warning("%s", warning)
        typer.echo(f"\n*** WARNING: {warning} ***\n", err=True)
    with ExitStack() as stack:
        conninfo = stack.enter_context(services.database(settings))
        if migrate:
            apply_migrations(conninfo)
            configure_rollup_zone(conninfo, settings.rollup_time_zone)
        endpoint = stack.enter_context(services.broker(settings)) if ingest else None
        services.start_metrics(settings)
        storage = Storage(conninfo, secret_key=key)
        api = create_app(
            settings,
            storage=storage,
            ingest=ingest,
            mqtt=endpoint,
            embedded=embedded,
            # in the app's lifespan: uvicorn ends the process on SIGTERM once it has shut down
            alarm_evaluator=conninfo if settings.alarm_evaluator else None,
        )
        where = f"http://{settings.http_host}:{settings.http_port}"
        typer.echo(f"Shanshui cloud API on {where} (Ctrl-C stops)", err=True)
        if ingest:
            from cloud.ingest.gc_policy import tune_gc_for_ingest  # noqa: PLC0415

            tune_gc_for_ingest()
        uvicorn.run(api, host=settings.http_host, port=settings.http_port, log_level="info")


@app.command("ingest")
@_reports_errors
def ingest_command() -> None:
    """Run an ingest worker (several may share one subscription group).

    An alarm evaluator runs beside it as a child process (``alarms run``; one of
    several evaluates, the others stand by) unless SHANSHUI_ALARM_EVALUATOR=false.
    """
    settings = load_settings()
    key = services.secret_key(settings)
    with ExitStack() as stack:
        conninfo = stack.enter_context(services.database(settings))
        endpoint = stack.enter_context(services.broker(settings))
        if settings.alarm_evaluator:
            stack.enter_context(EvaluatorChild(conninfo))
        services.start_metrics(settings)
        from cloud.ingest.gc_policy import tune_gc_for_ingest  # noqa: PLC0415 - paho behind it

        tune_gc_for_ingest()
        asyncio.run(_run_worker(settings, Storage(conninfo, secret_key=key), endpoint))


async def _run_worker(settings: Settings, storage: Storage, endpoint: MqttEndpoint) -> None:
    from cloud.ingest import IngestWorker  # noqa: PLC0415 - paho only for this command
    from cloud.ingest.listeners import ListenerSet  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with (
        storage,
        IngestWorker.from_settings(storage, settings, endpoint) as worker,
    ):
        listeners = ListenerSet(settings, worker.pipeline)
        await listeners.start()
        typer.echo(f"ingest worker subscribed at {endpoint.address} (Ctrl-C stops)", err=True)
        await stop.wait()
        await listeners.stop()
        stats = worker.stats
    typer.echo(
        f"stopped: {stats.accepted} accepted, {stats.duplicate} duplicate, "
        f"{stats.dead_lettered} dead-lettered",
        err=True,
    )


@gateway_app.command("add")
@_reports_errors
def gateway_add(
    gateway_id: Annotated[str, typer.Argument(help="Gateway id, as in gateway.yaml.")],
    secret_file: Annotated[
        Path | None,
        typer.Option(help="Write the hex secret to this new file (mode 0600) instead of stdout."),
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant (created if new).")] = "default",
    site: Annotated[str | None, typer.Option(help="Site name (created if new).")] = None,
) -> None:
    """Register a gateway and hand out its signing secret, once."""
    _issue_secret(
        secret_file,
        lambda storage: storage.register_gateway(
            gateway_id, tenant=tenant, site=site, actor=actor()
        ),
        f"registered {gateway_id}",
    )


@gateway_app.command("rotate-secret")
@_reports_errors
def gateway_rotate_secret(
    gateway_id: Annotated[str, typer.Argument(help="A registered gateway id.")],
    *,
    secret_file: Annotated[
        Path | None,
        typer.Option(help="Write the hex secret to this new file (mode 0600) instead of stdout."),
    ] = None,
    grace_hours: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Hours the old secret still verifies; 0 for a leaked one "
            "[SHANSHUI_GATEWAY_SECRET_GRACE_HOURS, 24].",
        ),
    ] = None,
    push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="Deliver the new secret to the gateway, encrypted, on down/cmd and wait "
            "for its answer signed with it (the secret is shown nowhere).",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="With --push: seconds to wait for the answer.")
    ] = 30.0,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="With --push: issue no new secret; deliver the pending rotation's again "
            "(when the gateway did not answer).",
        ),
    ] = False,
) -> None:
    """Give a gateway a new secret; the old one keeps verifying for the grace period.

    Install the new secret on the gateway within that period (or let --push do it):
    until then its batches, signed with the old secret, are accepted and acknowledged.
    """
    hours = load_settings().gateway_secret_grace_hours if grace_hours is None else grace_hours
    if push:
        if secret_file is not None:
            typer.echo("error: --push delivers the secret; drop --secret-file", err=True)
            raise typer.Exit(EXIT_USAGE)
        rotate_and_push(gateway_id, hours, timeout, resume)
        return
    if resume:
        typer.echo("error: --resume goes with --push", err=True)
        raise typer.Exit(EXIT_USAGE)
    _issue_secret(
        secret_file,
        lambda storage: storage.rotate_secret(
            gateway_id, grace=timedelta(hours=hours), actor=actor()
        ),
        f"new secret for {gateway_id} "
        + (
            "(the old one no longer verifies)"
            if hours <= 0
            else f"(the old one verifies for {hours:g} h more)"
        ),
    )


def _issue_secret(
    secret_file: Path | None,
    make: Callable[[Storage], Awaitable[bytes]],
    done: str,
) -> None:
    """Run ``make`` and hand its secret out once: to a new 0600 file, or to stdout."""
    settings = load_settings()
    # Claim the file before asking for a secret, so none is issued that cannot be kept.
    handle = _claim_secret_file(secret_file) if secret_file is not None else None
    try:
        key = services.secret_key(settings)
        with services.database(settings) as conninfo:
            secret = asyncio.run(_with_storage(conninfo, key, make))
    except BaseException:
        if handle is not None and secret_file is not None:
            os.close(handle)
            secret_file.unlink(missing_ok=True)
        raise
    if handle is None:
        typer.echo(secret.hex())
        typer.echo(f"{done}; the secret above is shown only once", err=True)
        return
    with os.fdopen(handle, "w") as out:
        out.write(secret.hex() + "\n")
    typer.echo(f"{done}; secret written to {secret_file}", err=True)


async def _with_storage(
    conninfo: str, key: SecretKey, make: Callable[[Storage], Awaitable[bytes]]
) -> bytes:
    async with Storage(conninfo, max_size=1, secret_key=key) as storage:
        return await make(storage)


async def _seal_secrets(conninfo: str, key: SecretKey) -> int:
    async with Storage(conninfo, max_size=1, secret_key=key) as storage:
        return await storage.seal_secrets()


def _claim_secret_file(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        typer.echo(f"error: {path} exists; refusing to overwrite a secret", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        typer.echo(f"error: cannot create {path}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


@app.command("dead-letters")
@_reports_errors
def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 20,
) -> None:
    """List the newest messages that ingest refused, with the reason."""
    settings = load_settings()
    with services.database(settings) as conninfo:
        letters = asyncio.run(_dead_letters(conninfo, limit))
    if not letters:
        typer.echo("no dead letters")
        return
    for letter in letters:
        typer.echo(_dead_letter_line(letter))


async def _dead_letters(conninfo: str, limit: int) -> list[DeadLetter]:
    async with Storage(conninfo, max_size=1) as storage:
        return await storage.list_dead_letters(limit)


def _dead_letter_line(letter: DeadLetter) -> str:
    detail = letter.detail.replace("\n", " ")
    if len(detail) > _DETAIL_COLUMN:
        detail = detail[: _DETAIL_COLUMN - 1] + "…"
    when = letter.received_at.isoformat(timespec="seconds")
    return (
        f"{letter.id:>6}  {when}  {letter.reason:<16} {letter.gateway_id or '-':<20} "
        f"{letter.payload_size:>7} B  {letter.source}  {detail}"
    )
