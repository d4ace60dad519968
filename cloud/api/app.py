"""The FastAPI application factory.

Layer: HTTP wiring. Builds the app, opens storage (and optionally an ingest
worker) in the lifespan, maps domain errors to status codes. No SQL here, and
no servers are started: embedded PostgreSQL and broker belong to the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from cloud.alarms.child import EvaluatorChild
from cloud.api import access_log, problems
from cloud.api.live_hub import LiveHub
from cloud.api.params import no_unknown_query
from cloud.api.ratelimit import RateLimiter
from cloud.api.routes import (
    aggregates,
    alarm_contacts,
    alarm_rules,
    alarms,
    audit,
    dashboard,
    dashboard_actions,
    gateway_control,
    gateways,
    grants,
    health,
    keys,
    live,
    login,
    nbiot_push,
    noise,
    overview,
    readings,
    rule_limits,
    sites,
    standards,
    water_class,
)
from cloud.api.routes import ingest as ingest_route
from cloud.errors import ConfigError
from cloud.ingest import IngestPipeline, IngestPolicy, IngestWorker
from cloud.ingest.compact_frames import CompactFrames
from cloud.ingest.listeners import ListenerSet
from cloud.ingest.registries import StoredTables
from cloud.settings import MqttEndpoint, Settings, load_settings
from cloud.storage import Storage
from cloud.storage.sealing import SecretKey

log = logging.getLogger(__name__)

DESCRIPTION = """
Readings, aggregates, stations and administration of a Shanshui cloud.

Every endpoint needs an API key: `Authorization: Bearer ssk_…` (the dashboard signs
in at `/login` and keeps the key in an HttpOnly cookie). A key has a role (admin,
analyst, technician, sharing) and a scope (a tenant, optionally narrowed to regions,
stations or gateways); what lies outside the scope answers 404. Errors are RFC 9457
problem details (`application/problem+json`). Times are ISO 8601 with a UTC offset.
"""


def create_app(
    settings: Settings | None = None,
    *,
    storage: Storage | None = None,
    ingest: bool = False,
    mqtt: MqttEndpoint | None = None,
    embedded: list[str] | None = None,
    alarm_evaluator: str | None = None,
) -> FastAPI:
    """Build the API.

    Args:
        settings: defaults to :func:`cloud.settings.load_settings`.
        storage: defaults to ``Storage(settings.database_url)``. The lifespan opens
            it if it is not open yet, and then also closes it; a storage the caller
            opened (on the same event loop) stays the caller's to close.
        ingest: also run an :class:`IngestWorker` on the app's event loop, started
            and stopped with the app; its counters show in ``/healthz``.
        mqtt: the broker for that worker; defaults to ``settings.mqtt()``.
        embedded: the embedded development servers this process runs on
            (``postgresql``, ``mqtt``); ``/healthz`` says so, loudly.
        alarm_evaluator: a conninfo: run the alarm evaluator on it as a child process
            (:class:`cloud.alarms.child.EvaluatorChild`) while the app runs; stopped in
            the lifespan's shutdown, which a SIGTERM to the server reaches.

    Raises:
        ConfigError: no storage given and ``SHANSHUI_DATABASE_URL`` is unset.
    """
    settings = settings or load_settings()
    if storage is None:
        storage = _storage_from_settings(settings)
    if ingest and mqtt is None and settings.mqtt() is None:
        raise ConfigError("ingest needs a broker: SHANSHUI_MQTT_URL is not set")
    app_storage = storage

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        access_log.install()  # after the server configured its loggers
        owned = not app_storage.is_open
        if owned:
            await app_storage.open()
        worker = None
        listeners: ListenerSet | None = app.state.listeners
        try:
            async with _evaluator_beside(alarm_evaluator):
                if ingest:
                    worker = IngestWorker.from_settings(app_storage, settings, mqtt)
                    await worker.start()
                    app.state.ingest = worker
                if listeners is not None:
                    await listeners.start()
                yield
        finally:
            await app.state.live_hub.close()
            app.state.ingest = None
            if listeners is not None:
                await listeners.stop()
            pipeline.stop()
            if worker is not None:
                await worker.stop()
            if owned:
                await app_storage.close()

    app = FastAPI(
        title="Shanshui cloud",
        summary="Environmental and agricultural sensing: readings from gateways",
        description=DESCRIPTION,
        version="0.2.0",
        lifespan=lifespan,
        docs_url=None,  # served by cloud.api.routes.dashboard with local assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.storage = app_storage
    app.state.ingest = None
    app.state.embedded = list(embedded or [])
    app.state.broker = mqtt or settings.mqtt()  # where configs and commands go
    pipeline = IngestPipeline(
        app_storage, topic_root=settings.topic_root, policy=IngestPolicy.from_settings(settings)
    )
    app.state.pipeline = pipeline
    # HJ 212 and NB-IoT (UDP, CoAP) listeners run with the ingest worker, on its pipeline
    app.state.listeners = ListenerSet(settings, pipeline) if ingest else None
    app.state.platform_frames = _platform_frames(settings, pipeline)
    app.state.rate_limiter = RateLimiter()
    app.state.live_hub = LiveHub(app_storage)
    problems.install(app)
    for module in (
        readings,
        aggregates,
        standards,
        water_class,
        noise,
        gateways,
        gateway_control,
        sites,
        keys,
        grants,
        audit,
        health,
        ingest_route,
        nbiot_push,
        login,
        alarms,
        alarm_rules,
        rule_limits,
        alarm_contacts,
        overview,
        live,
        dashboard_actions,
    ):
        app.include_router(module.router, dependencies=[Depends(no_unknown_query)])
    # pages read their own query parameters (and tell the user about bad ones)
    app.include_router(dashboard.router)
    app.mount("/static", dashboard.static_files(), name="static")
    return app


@asynccontextmanager
async def _evaluator_beside(conninfo: str | None) -> AsyncIterator[None]:
    """The alarm evaluator as a child process for the duration of the block, if asked for."""
    if conninfo is None:
        yield
        return
    child = EvaluatorChild(conninfo)
    child.start()
    try:
        yield
    finally:
        await asyncio.to_thread(child.stop)


def _storage_from_settings(settings: Settings) -> Storage:
    conninfo = settings.database_conninfo()
    if conninfo is None:
        raise ConfigError("SHANSHUI_DATABASE_URL is not set and no storage was given")
    # `shanshui cloud serve` passes a storage with the key; here: the key if set
    secret = settings.secret_key
    key = None if secret is None else SecretKey.parse(secret.get_secret_value())
    return Storage(conninfo, secret_key=key)


def _platform_frames(settings: Settings, pipeline: IngestPipeline) -> CompactFrames | None:
    """CTWing / OneNET push settle frames on the app's pipeline (when a push token is set)."""
    if settings.ctwing_push_token is None and settings.onenet_push_token is None:
        return None
    return CompactFrames(pipeline, pipeline.storage, StoredTables(pipeline.storage))
