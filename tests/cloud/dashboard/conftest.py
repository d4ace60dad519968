"""Fixtures of the dashboard tests: one stored network and one served app per run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.migrate import migrate
from tests.cloud.dashboard.world import World, seed, serve, token
from tests.fix_db import _create, _drop

OUTLINE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "test region"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[108.2, 33.6], [110.0, 33.7], [110.1, 34.8], [108.3, 34.9], [108.2, 33.6]]
                ],
            },
        }
    ],
}


@pytest.fixture(scope="session")
def world(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The network of :mod:`tests.cloud.dashboard.world`, served over HTTP."""
    name = f"dashboard_{token()}"
    url = _create(pg_server, name)
    migrate(url)
    sites = asyncio.run(seed(url))
    outline = tmp_path_factory.mktemp("map") / "outline.geojson"
    outline.write_text(json.dumps(OUTLINE), encoding="utf-8")
    try:
        with serve(url, str(outline)) as (base, app):
            yield World(base, url, sites, [1_000_000], app)
    finally:
        _drop(pg_server, name)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where the browser tests keep their screenshots (``test-output/``, ignored by git)."""
    path = Path(__file__).resolve().parents[3] / "test-output" / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path
