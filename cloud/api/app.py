"""The FastAPI application factory.

Layer: HTTP wiring. Builds the app, opens storage (and optionally an ingest
worker) in the lifespan, maps domain errors to status codes. No SQL here, and
no servers are started: embedded PostgreSQL and broker belong to the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from cloud.api.routes import dashboard, gateways, health, readings
from cloud.errors import (
    ConfigError,
    InvalidIdentifierError,
    SeriesNotFoundError,
    StorageUnavailableError,
    UnknownGatewayError,
)
from cloud.ingest import IngestWorker
from cloud.settings import MqttEndpoint, Settings, load_settings
from cloud.storage import Storage

log = logging.getLogger(__name__)

_UNAVAILABLE = "the database is unavailable; try again later"
_STATUS = {
    SeriesNotFoundError: status.HTTP_404_NOT_FOUND,
    UnknownGatewayError: status.HTTP_404_NOT_FOUND,
    InvalidIdentifierError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    StorageUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def create_app(
    settings: Settings | None = None,
    *,
    storage: Storage | None = None,
    ingest: bool = False,
    mqtt: MqttEndpoint | None = None,
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

    Raises:
        ConfigError: no storage given and ``SHANSHUI_DATABASE_URL`` is unset.
    """
    settings = settings or load_settings()
    if storage is None:
        conninfo = settings.database_conninfo()
        if conninfo is None:
            raise ConfigError("SHANSHUI_DATABASE_URL is not set and no storage was given")
        storage = Storage(conninfo)
    if ingest and mqtt is None and settings.mqtt() is None:
        raise ConfigError("ingest needs a broker: SHANSHUI_MQTT_URL is not set")
    app_storage = storage

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = not app_storage.is_open
        if owned:
            await app_storage.open()
        worker = None
        try:
            if ingest:
                worker = IngestWorker.from_settings(app_storage, settings, mqtt)
                await worker.start()
                app.state.ingest = worker
            yield
        finally:
            app.state.ingest = None
            if worker is not None:
                await worker.stop()
            if owned:
                await app_storage.close()

    app = FastAPI(
        title="Shanshui cloud",
        summary="Environmental and agricultural sensing: readings from gateways",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.storage = app_storage
    app.state.ingest = None
    for error_type, code in _STATUS.items():
        app.add_exception_handler(error_type, _responder(code))
    app.include_router(readings.router)
    app.include_router(gateways.router)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    return app


def _responder(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def respond(request: Request, exc: Exception) -> JSONResponse:
        if code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
            # A server-side failure's message carries the driver's words, e.g. the
            # database's host and port: log it for the operator, not for the client.
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return JSONResponse(status_code=code, content={"detail": _UNAVAILABLE})
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    return respond
