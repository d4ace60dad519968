"""The zone whose calendar days the daily rollups follow (``SHANSHUI_ROLLUP_TIME_ZONE``).

Layer: storage, administrative (synchronous; run by ``shanshui cloud migrate`` and
``serve`` after the migrations, and by tests). Migration 0070 records the zone in
``rollup_zone``; when the configured one differs, :func:`configure_rollup_zone`
rebuilds the daily rollups from the hourly ones in the new zone:

* plain PostgreSQL: ``readings_1d`` is recomputed from ``readings_1h`` in one
  transaction that also records the zone, which the ingest path reads in every
  statement that adds to a day;
* TimescaleDB: the daily continuous aggregate is dropped and created again on the
  hourly one with ``time_bucket(INTERVAL '1 day', bucket, <zone>)`` (supported on
  hierarchical continuous aggregates since TimescaleDB 2.9's hierarchy and 2.8's
  time zones; checked on 2.28), then refreshed.

Both read the hourly rollups, not the readings, so days whose readings a retention
has deleted are rebuilt too. That is exact only because every local day is a union
of UTC hours: the zone must be a whole number of hours from UTC at all times
(:func:`check_rollup_zone`), true of China's and most zones. Change the zone with
the ingest workers stopped: a group committed during the rebuild may add to a day
of the old zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql

from cloud.errors import ConfigError
from cloud.storage.admin import connect, has_timescaledb

DEFAULT_ROLLUP_ZONE = "Asia/Shanghai"

_CURRENT = "SELECT time_zone FROM rollup_zone"
_SET = "UPDATE rollup_zone SET time_zone = %(zone)s"
_REBUILD_TABLE = """
INSERT INTO readings_1d
SELECT series_id, date_trunc('day', bucket, %(zone)s),
       sum(reading_count), sum(valid_count), sum(value_sum), min(value_min), max(value_max)
FROM readings_1h
GROUP BY 1, 2
"""
_DAILY_CAGG = """
CREATE MATERIALIZED VIEW readings_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(INTERVAL '1 day', bucket, {zone}) AS bucket,
       sum(reading_count)::bigint AS reading_count,
       sum(valid_count)::bigint AS valid_count,
       sum(value_sum) AS value_sum,
       min(value_min) AS value_min,
       max(value_max) AS value_max
FROM readings_1h
GROUP BY series_id, time_bucket(INTERVAL '1 day', bucket, {zone})
WITH NO DATA
"""
_DAILY_REFRESH = """
SELECT add_continuous_aggregate_policy('readings_1d',
    start_offset => NULL, end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour')
"""
_IS_TABLE = "SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass('readings_1d')"


def check_rollup_zone(name: str) -> str:
    """``name`` if it is an IANA zone a whole number of hours from UTC from 1970 to 2100.

    Raises:
        ValueError: an unknown zone, or one with a fractional-hour offset (its days
            would not be unions of the UTC hours the hourly rollups keep).
    """
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)") from None
    moment = datetime(1970, 1, 1, tzinfo=UTC)
    while moment.year < 2100:
        offset = moment.astimezone(zone).utcoffset() or timedelta(0)
        if offset % timedelta(hours=1):
            raise ValueError(
                f"{name} is {offset} from UTC on {moment:%Y-%m-%d}: the daily rollups need a "
                "zone a whole number of hours from UTC"
            )
        moment += timedelta(days=15)
    return name


def rollup_zone(conninfo: str) -> str:
    """The zone the database's daily rollups follow now."""
    with connect(conninfo, "reading the rollup time zone") as conn:
        return _current(conn)


def configure_rollup_zone(conninfo: str, zone: str = DEFAULT_ROLLUP_ZONE) -> bool:
    """Make the daily rollups follow ``zone``'s days; True if they were rebuilt.

    Raises:
        ConfigError: ``zone`` is not usable (see :func:`check_rollup_zone`).
        StorageError: the database refused a statement.
    """
    try:
        check_rollup_zone(zone)
    except ValueError as exc:
        raise ConfigError(f"SHANSHUI_ROLLUP_TIME_ZONE: {exc}") from None
    with connect(conninfo, "setting the rollup time zone") as conn:
        if _current(conn) == zone:
            return False
        row = conn.execute(_IS_TABLE).fetchone()
        if row is not None and row[0]:
            with conn.transaction():
                conn.execute("LOCK TABLE readings_1d IN EXCLUSIVE MODE")
                conn.execute("DELETE FROM readings_1d")
                conn.execute(_REBUILD_TABLE, {"zone": zone})
                conn.execute(_SET, {"zone": zone})
            return True
        if not has_timescaledb(conn):
            raise ConfigError("readings_1d is neither a table nor a continuous aggregate")
        _recreate_daily_aggregate(conn, zone)
    return True


def _recreate_daily_aggregate(conn: psycopg.Connection[Any], zone: str) -> None:
    literal = sql.Literal(zone)
    with conn.transaction():
        conn.execute("DROP MATERIALIZED VIEW readings_1d")
        conn.execute(sql.SQL(_DAILY_CAGG).format(zone=literal))
        conn.execute(_DAILY_REFRESH)  # configure_policies then sets the deployment's window
        conn.execute(_SET, {"zone": zone})
    # outside a transaction, as TimescaleDB requires
    conn.execute("CALL refresh_continuous_aggregate('readings_1d', NULL, NULL)")


def _current(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(_CURRENT).fetchone()
    if row is None:
        raise ConfigError("rollup_zone is empty: run shanshui cloud migrate")
    return str(row[0])
