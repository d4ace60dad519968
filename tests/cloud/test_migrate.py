"""Migrations: applied in order once, edits refused, concurrent runs serialised."""

from __future__ import annotations

import re
import secrets
import shutil
import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cloud.errors import ChecksumMismatchError, MigrationError
from cloud.migrate import MIGRATIONS_DIR, migrate, migration_files
from cloud.storage.admin import applied_migrations, drop_database, ensure_database, hypertables
from tests.fix_db import server_has_timescaledb

ALL = [f.name for f in migration_files()]


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_files_are_numbered_from_one_in_order() -> None:
    assert ALL[:2] == ["0001_init.sql", "0002_timescale.sql"]
    versions = [f.version for f in migration_files()]
    assert versions == sorted(set(versions))  # gaps between numbers are allowed


def test_migrate_applies_everything_once(database_url: str) -> None:
    assert migrate(database_url) == ALL
    assert migrate(database_url) == []
    recorded = applied_migrations(database_url)
    assert [m.name for m in recorded] == ALL
    assert [m.checksum for m in recorded] == [f.checksum for f in migration_files()]


def test_readings_is_a_hypertable_exactly_where_timescaledb_is_preloaded(
    migrated_database_url: str, db_server: str
) -> None:
    # The server may be the embedded plain one, TimescaleDB, or whatever
    # SHANSHUI_TEST_DATABASE_URL names: ask it rather than assume.
    expected = ["readings"] if server_has_timescaledb(db_server) else []
    assert hypertables(migrated_database_url) == expected


def test_an_edited_applied_migration_is_refused(database_url: str, migrations_copy: Path) -> None:
    migrate(database_url, migrations_copy)
    first = migrations_copy / "0001_init.sql"
    first.write_text(first.read_text() + "\n-- an innocent comment\n")

    with pytest.raises(ChecksumMismatchError) as caught:
        migrate(database_url, migrations_copy)
    assert caught.value.name == "0001_init.sql"


def test_new_files_are_applied_after_the_old(database_url: str, migrations_copy: Path) -> None:
    migrate(database_url, migrations_copy)
    (migrations_copy / "9999_extra.sql").write_text("CREATE TABLE extra (x int);")
    assert migrate(database_url, migrations_copy) == ["9999_extra.sql"]


def test_a_failing_migration_leaves_nothing_behind(
    database_url: str, migrations_copy: Path
) -> None:
    (migrations_copy / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nSELECT no_such_function();"
    )
    with pytest.raises(MigrationError, match=re.escape("9999_broken.sql failed")):
        migrate(database_url, migrations_copy)
    assert [m.name for m in applied_migrations(database_url)] == ALL
    (migrations_copy / "9999_broken.sql").write_text("CREATE TABLE half_done (x int);")
    assert migrate(database_url, migrations_copy) == ["9999_broken.sql"]


def test_misnamed_files_are_refused(migrations_copy: Path) -> None:
    (migrations_copy / "3_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=re.escape("NNNN_name.sql")):
        migration_files(migrations_copy)


def test_a_database_ahead_of_the_code_is_refused(database_url: str, migrations_copy: Path) -> None:
    (migrations_copy / "9999_future.sql").write_text("SELECT 1;")
    migrate(database_url, migrations_copy)
    with pytest.raises(MigrationError, match=re.escape("9999_future.sql")):
        migrate(database_url)


def test_concurrent_migrators_apply_each_file_once(database_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            results.append(migrate(database_url))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(results, key=len) == [[], [], [], ALL]


def test_timescale_check_works_for_a_role_that_cannot_read_server_settings(
    database_url: str,
) -> None:
    """An application role (not superuser) may not read shared_preload_libraries.

    TimescaleDB is not installed here, so a view named like the catalog's, first on
    the search_path, makes 0002 believe it is available and reach that check.
    """
    role, password = f"app_{secrets.token_hex(4)}", secrets.token_hex(16)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        admin.execute("CREATE SCHEMA fake")
        admin.execute("GRANT USAGE ON SCHEMA fake TO PUBLIC")
        admin.execute(
            "CREATE VIEW fake.pg_available_extensions AS SELECT 'timescaledb'::name AS name"
        )
        admin.execute("GRANT SELECT ON fake.pg_available_extensions TO PUBLIC")
    script = next(f.script for f in migration_files() if f.name == "0002_timescale.sql")
    as_app = make_conninfo(
        database_url, user=role, password=password, options="-c search_path=fake,pg_catalog"
    )
    notices: list[str] = []
    try:
        with psycopg.connect(as_app) as conn:
            conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
            conn.execute(script)  # raised InsufficientPrivilege before the fix
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert any("readings stays a plain table" in notice for notice in notices)


@pytest.mark.timescale
def test_timescale_turns_readings_into_a_hypertable(timescale_url: str) -> None:
    name = f"shanshui_ts_{secrets.token_hex(4)}"
    url = ensure_database(timescale_url, name)
    try:
        assert migrate(url) == ALL
        assert hypertables(url) == ["readings"]
        assert migrate(url) == []
    finally:
        drop_database(timescale_url, name)
