"""Dependencies of the routes, as ``Annotated`` aliases.

Layer: HTTP plumbing. Everything a route needs comes from ``app.state``, which
:func:`cloud.api.app.create_app` fills; tests of routing may replace it.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from cloud.ingest import IngestWorker
from cloud.settings import Settings
from cloud.storage import Storage


def get_storage(request: Request) -> Storage:
    """The app's storage."""
    return cast(Storage, request.app.state.storage)


def get_ingest(request: Request) -> IngestWorker | None:
    """The in-process ingest worker, if this app runs one."""
    return cast(IngestWorker | None, request.app.state.ingest)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return cast(Settings, request.app.state.settings)


StorageDep = Annotated[Storage, Depends(get_storage)]
IngestDep = Annotated[IngestWorker | None, Depends(get_ingest)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
