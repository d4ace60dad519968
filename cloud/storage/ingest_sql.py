"""The SQL of :mod:`cloud.storage.ingest`, and the array literals it sends.

Layer: storage (statement text only, no I/O). One group of batches is written
with a handful of statements whatever its size: the batch log rows from arrays,
then every reading of the group from four arrays in one ``INSERT ... SELECT
FROM unnest(...)``, so the database sees one statement and one commit per group
rather than per batch.

The reading arrays travel as PostgreSQL array literals (``{1,2,3}``) built with
``str.join``: psycopg's list dumper formats every element in Python, which cost
more than the whole rest of the worker's per-reading work. The elements are
integers, finite floats (``repr`` is the shortest text that reads back to the
same double) and one-letter quality flags, so no element needs quoting.
"""

from __future__ import annotations

from collections.abc import Iterable

INSERT_BATCHES = """
INSERT INTO ingested_batches
    (gateway_id, seq, reading_count, source, digest, first_ms, last_ms)
SELECT b.gw, b.seq, b.count, b.source, b.digest, b.first_ms, b.last_ms
FROM unnest(%(gws)s::text[], %(seqs)s::bigint[], %(counts)s::int[], %(sources)s::text[],
            %(digests)s::bytea[], %(firsts)s::bigint[], %(lasts)s::bigint[])
     AS b (gw, seq, count, source, digest, first_ms, last_ms)
ORDER BY b.gw, b.seq
ON CONFLICT (gateway_id, seq) DO NOTHING
RETURNING gateway_id, seq
"""

BATCH_DIGESTS = """
SELECT b.gateway_id, b.seq, b.digest
FROM ingested_batches b
JOIN unnest(%(gws)s::text[], %(seqs)s::bigint[]) AS k (gw, seq)
  ON b.gateway_id = k.gw AND b.seq = k.seq
"""

UPSERT_DEVICES = """
INSERT INTO devices (gateway_id, name)
SELECT %(gw)s, name FROM unnest(%(names)s::text[]) AS name ORDER BY name
ON CONFLICT (gateway_id, name) DO NOTHING
"""

UPSERT_SERIES = """
INSERT INTO series (device_id, quantity, unit, site_id)
SELECT d.id, p.quantity, p.unit, g.site_id
FROM unnest(%(devices)s::text[], %(quantities)s::text[], %(units)s::text[])
     AS p (device, quantity, unit)
JOIN devices d ON d.gateway_id = %(gw)s AND d.name = p.device
JOIN gateways g ON g.id = d.gateway_id
ORDER BY d.id, p.quantity
ON CONFLICT (device_id, quantity) DO NOTHING
"""

SERIES_IDS = """
SELECT d.name, s.quantity, s.id
FROM unnest(%(devices)s::text[], %(quantities)s::text[]) AS p (device, quantity)
JOIN devices d ON d.gateway_id = %(gw)s AND d.name = p.device
JOIN series s ON s.device_id = d.id AND s.quantity = p.quantity
"""

# Measured (bench/b_ingest.py) against COPY into a temporary staging table then one
# INSERT ... SELECT ... ON CONFLICT: with the series ids known, one INSERT from
# unnest() of four arrays is faster (the staging table costs a second write of
# every row). Rows go in (series, time) order so that concurrent workers take the
# unique index's locks in one order and do not deadlock each other.
#
# Two forms: without a conflict clause (the common case, fresh readings: a quarter
# less database CPU than ON CONFLICT's speculative insertion, which looks each
# row up before inserting it) and with ON CONFLICT DO NOTHING, for a group that
# repeats stored readings (the first form then fails with a unique violation and
# the group is written again in the second).
_INSERT_READINGS = """
INSERT INTO readings (time, series_id, value, quality)
SELECT 'epoch'::timestamptz + r.time_ms * interval '1 millisecond', r.series_id, r.value, r.quality
FROM unnest(%(series)s::bigint[], %(times)s::bigint[], %(values)s::float8[], %(qualities)s::text[])
     AS r (series_id, time_ms, value, quality)
ORDER BY r.series_id, r.time_ms
{conflict}"""
INSERT_READINGS = _INSERT_READINGS.format(conflict="")
INSERT_READINGS_SKIPPING = _INSERT_READINGS.format(
    conflict="ON CONFLICT (series_id, time) DO NOTHING"
)

# Means of thinned readings (rare): marked beside the readings, in the same transaction
INSERT_MEANS = """
INSERT INTO reading_means (series_id, time, mean_of)
SELECT r.series_id, 'epoch'::timestamptz + r.time_ms * interval '1 millisecond', r.mean_of
FROM unnest(%(series)s::bigint[], %(times)s::bigint[], %(means)s::integer[])
     AS r (series_id, time_ms, mean_of)
ON CONFLICT (series_id, time) DO NOTHING
"""

# Plain PostgreSQL keeps the rollup tables of migration 0006 current here, in the
# group's transaction: the readings actually inserted (a replayed reading is not
# RETURNed) are added to their hour and (local) day. Adding deltas under the row lock of
# ON CONFLICT DO UPDATE stays right when workers touch one bucket concurrently,
# where recomputing a bucket from a snapshot would lose the other's rows. A group
# of batches touches each bucket once, where batch by batch it would touch it
# once per batch.
_ADD_TO_ROLLUP = """
{name} AS (
    INSERT INTO {table} AS t
        (series_id, bucket, reading_count, valid_count, value_sum, value_min, value_max)
    SELECT series_id, {bucket},
           count(*), count(*) FILTER (WHERE quality = 'N'),
           sum(value) FILTER (WHERE quality = 'N'),
           min(value) FILTER (WHERE quality = 'N'),
           max(value) FILTER (WHERE quality = 'N')
    FROM new
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        reading_count = t.reading_count + EXCLUDED.reading_count,
        valid_count = t.valid_count + EXCLUDED.valid_count,
        value_sum = coalesce(t.value_sum + EXCLUDED.value_sum, t.value_sum, EXCLUDED.value_sum),
        value_min = least(t.value_min, EXCLUDED.value_min),
        value_max = greatest(t.value_max, EXCLUDED.value_max)
)"""

# UTC hours; local days of the deployment's rollup zone (migration 0070), read in
# the statement itself so that a worker never uses a zone it cached
_HOUR = "date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00+00')"
_LOCAL_DAY = "date_trunc('day', time, (SELECT time_zone FROM rollup_zone))"

_WITH_ROLLUPS = f"""
WITH new AS (
    {{insert}}
    RETURNING series_id, time, value, quality
),
{_ADD_TO_ROLLUP.format(name="hourly", table="readings_1h", bucket=_HOUR)},
{_ADD_TO_ROLLUP.format(name="daily", table="readings_1d", bucket=_LOCAL_DAY)}
SELECT count(*) FROM new
"""  # noqa: S608 - composed of this module's constants only
INSERT_READINGS_AND_ROLLUPS = _WITH_ROLLUPS.format(insert=INSERT_READINGS)
INSERT_READINGS_SKIPPING_AND_ROLLUPS = _WITH_ROLLUPS.format(insert=INSERT_READINGS_SKIPPING)

# Readings this transaction inserted, per batch of the group (``part``): only asked
# when some readings of a group were already stored, to say which batch wrote what.
# A reading sent twice within the group is credited to the first batch sending it.
INSERTED_PER_BATCH = """
SELECT k.part, count(*)
FROM (
    SELECT DISTINCT ON (series_id, time_ms) series_id, time_ms, part
    FROM unnest(%(series)s::bigint[], %(times)s::bigint[], %(parts)s::int[])
         AS u (series_id, time_ms, part)
    ORDER BY series_id, time_ms, part
) AS k
JOIN readings r
  ON r.series_id = k.series_id
 AND r.time = 'epoch'::timestamptz + k.time_ms * interval '1 millisecond'
WHERE r.xmin = pg_current_xact_id()::xid
GROUP BY k.part
"""

# 'r': a table kept by us (plain PostgreSQL); 'v': a continuous aggregate's view
ROLLUPS_ARE_TABLES = """
SELECT coalesce((SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass('readings_1h')), false)
"""


def int_array(values: Iterable[int]) -> str:
    """A ``bigint[]`` literal."""
    return "{" + ",".join(map(str, values)) + "}"


def float_array(values: Iterable[float]) -> str:
    """A ``float8[]`` literal; every value finite (``wire.Reading`` guarantees it; an
    int's digits read as a float8 too)."""
    return "{" + ",".join(map(repr, values)) + "}"


def flag_array(values: Iterable[str]) -> str:
    """A ``text[]`` literal of quality flags (one letter each, nothing to quote)."""
    return "{" + ",".join(values) + "}"
