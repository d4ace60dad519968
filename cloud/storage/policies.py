"""TimescaleDB background policies of a deployment: columnstore age, retention.

Layer: storage, administrative (synchronous; run by ``shanshui cloud migrate``
after the migrations, and by tests). The migrations create the schema and
default policies; the ages are deployment settings, so they are (re)applied
here on every run and a changed setting takes effect at the next migrate.
Without TimescaleDB there is nothing to configure and nothing is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from cloud.errors import ConfigError
from cloud.storage.admin import connect, has_timescaledb

_HOURLY = "readings_1h"
_DAILY = "readings_1d"

_REMOVE_COLUMNSTORE = "CALL remove_columnstore_policy('readings', if_exists => true)"
_ADD_COLUMNSTORE = (
    "CALL add_columnstore_policy('readings', after => make_interval(days => %(days)s))"
)
_REMOVE_RETENTION = "SELECT remove_retention_policy('readings', if_exists => true)"
_ADD_RETENTION = (
    "SELECT add_retention_policy('readings', drop_after => make_interval(days => %(days)s))"
)
_REMOVE_REFRESH = "SELECT remove_continuous_aggregate_policy(%(view)s, if_exists => true)"
_ADD_REFRESH = """
SELECT add_continuous_aggregate_policy(%(view)s::regclass,
    start_offset => make_interval(days => %(start_days)s::int),
    end_offset => %(end)s::interval,
    schedule_interval => %(every)s::interval)
"""
# (end offset, schedule) per rollup: the open bucket is left to real-time aggregation
_REFRESH = {_HOURLY: ("1 hour", "15 minutes"), _DAILY: ("1 day", "1 hour")}

_JOBS = """
SELECT job_id, proc_name, hypertable_name::text, config
FROM timescaledb_information.jobs
WHERE hypertable_schema = current_schema()
ORDER BY job_id
"""


@dataclass(frozen=True, slots=True)
class Job:
    """One TimescaleDB background job of this database (a policy)."""

    job_id: int
    proc_name: str
    relation: str
    config: dict[str, Any]


def configure_policies(
    conninfo: str, *, compress_after_days: int = 7, retention_days: int | None = None
) -> bool:
    """Set the columnstore age and the retention of ``readings``; True if TimescaleDB is used.

    With a retention, readings older than ``retention_days`` are dropped (whole
    chunks) and the rollups' refresh windows stop at the same age, so the hourly
    and daily rollups of dropped readings are kept. Without one (the default)
    nothing is dropped and the refreshes cover the whole history.

    Raises:
        ConfigError: an age is not positive, or the retention is shorter than the
            columnstore age.
        StorageError: the database refused a statement.
    """
    if compress_after_days < 1:
        raise ConfigError("SHANSHUI_COMPRESS_AFTER_DAYS: must be at least 1")
    if retention_days is not None and retention_days < compress_after_days:
        raise ConfigError(
            "SHANSHUI_RETENTION_DAYS: must be at least SHANSHUI_COMPRESS_AFTER_DAYS "
            f"({compress_after_days})"
        )
    with connect(conninfo, "configuring TimescaleDB policies") as conn:
        if not has_timescaledb(conn) or not _is_hypertable(conn):
            return False
        with conn.transaction():
            conn.execute(_REMOVE_COLUMNSTORE)
            conn.execute(_ADD_COLUMNSTORE, {"days": compress_after_days})
            conn.execute(_REMOVE_RETENTION)
            if retention_days is not None:
                conn.execute(_ADD_RETENTION, {"days": retention_days})
            _set_refresh_windows(conn, retention_days)
    return True


def jobs(conninfo: str) -> list[Job]:
    """The TimescaleDB policies of this database's schema (empty without TimescaleDB)."""
    with connect(conninfo, "listing TimescaleDB jobs") as conn:
        if not has_timescaledb(conn):
            return []
        return [Job(*row) for row in conn.execute(_JOBS).fetchall()]


def _set_refresh_windows(conn: psycopg.Connection[Any], retention_days: int | None) -> None:
    # A refresh whose window reaches into dropped chunks would empty those buckets.
    for view, (end, every) in _REFRESH.items():
        conn.execute(_REMOVE_REFRESH, {"view": view})
        params = {"view": view, "start_days": retention_days, "end": end, "every": every}
        conn.execute(_ADD_REFRESH, params)  # no retention: start_days NULL, the whole history


def _is_hypertable(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
        " WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings')"
    ).fetchone()
    return bool(row and row[0])
