-- 0006_rollups: hourly and daily rollups of every series, on TimescaleDB and without it.
--
-- Two relations with the same name and columns on both databases, so one query
-- layer (cloud/storage/rollups.py) reads either:
--
--   readings_1h, readings_1d: (series_id, bucket, reading_count, valid_count,
--                              value_sum, value_min, value_max)
--
-- bucket is the UTC start of the hour or day. reading_count counts every reading;
-- valid_count, value_sum, value_min and value_max cover only valid readings
-- (quality 'N', the HJ 212 "normal" flag): an hour's mean is value_sum /
-- valid_count, and the share of valid readings valid_count / reading_count. Sums
-- and counts, not averages, are kept so that the daily rollup is exact when built
-- from the hourly one.
--
-- With TimescaleDB (readings is a hypertable, 0002): continuous aggregates, the
-- daily one built on the hourly one, with real-time aggregation
-- (materialized_only = false) so the newest, not yet materialized buckets are
-- computed from the raw rows at query time. Refresh policies cover the whole
-- history (start_offset NULL): refreshes only recompute buckets that TimescaleDB's
-- invalidation log marks as changed, so readings backfilled after an outage of any
-- length end up in the rollups at the next run.
--
-- Without TimescaleDB: ordinary tables, kept current by the ingest path in the
-- transaction that stores a batch (cloud/storage/ingest.py adds the readings it
-- actually inserted to their buckets), and filled here from existing readings.
DO $migration$
DECLARE
    hypertable boolean := false;
BEGIN
    -- nested: the information view exists only with the extension
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        SELECT EXISTS (
            SELECT 1 FROM timescaledb_information.hypertables
            WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
        ) INTO hypertable;
    END IF;
    IF hypertable THEN
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW readings_1h
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT series_id,
                   time_bucket(INTERVAL '1 hour', time) AS bucket,
                   count(*) AS reading_count,
                   count(*) FILTER (WHERE quality = 'N') AS valid_count,
                   sum(value) FILTER (WHERE quality = 'N') AS value_sum,
                   min(value) FILTER (WHERE quality = 'N') AS value_min,
                   max(value) FILTER (WHERE quality = 'N') AS value_max
            FROM readings
            GROUP BY series_id, time_bucket(INTERVAL '1 hour', time)
            WITH NO DATA
        $cagg$;
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW readings_1d
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT series_id,
                   time_bucket(INTERVAL '1 day', bucket) AS bucket,
                   sum(reading_count)::bigint AS reading_count,
                   sum(valid_count)::bigint AS valid_count,
                   sum(value_sum) AS value_sum,
                   min(value_min) AS value_min,
                   max(value_max) AS value_max
            FROM readings_1h
            GROUP BY series_id, time_bucket(INTERVAL '1 day', bucket)
            WITH NO DATA
        $cagg$;
        -- The open bucket is left to real-time aggregation (end_offset one bucket);
        -- the daily refresh follows the hourly one, which it reads.
        PERFORM add_continuous_aggregate_policy('readings_1h',
            start_offset => NULL,
            end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '15 minutes');
        PERFORM add_continuous_aggregate_policy('readings_1d',
            start_offset => NULL,
            end_offset => INTERVAL '1 day',
            schedule_interval => INTERVAL '1 hour');
        RETURN;
    END IF;

    CREATE TABLE readings_1h (
        series_id       bigint NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        bucket          timestamptz NOT NULL,
        reading_count   bigint NOT NULL CHECK (reading_count > 0),
        valid_count     bigint NOT NULL CHECK (valid_count BETWEEN 0 AND reading_count),
        value_sum       double precision,
        value_min       double precision,
        value_max       double precision,
        PRIMARY KEY (series_id, bucket)
    );
    CREATE TABLE readings_1d (LIKE readings_1h INCLUDING ALL);
    ALTER TABLE readings_1d
        ADD FOREIGN KEY (series_id) REFERENCES series (id) ON DELETE CASCADE;

    INSERT INTO readings_1h
    SELECT series_id, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00+00'),
           count(*), count(*) FILTER (WHERE quality = 'N'),
           sum(value) FILTER (WHERE quality = 'N'),
           min(value) FILTER (WHERE quality = 'N'),
           max(value) FILTER (WHERE quality = 'N')
    FROM readings GROUP BY 1, 2;
    INSERT INTO readings_1d
    SELECT series_id, date_bin(INTERVAL '1 day', bucket, TIMESTAMPTZ '1970-01-01 00:00+00'),
           sum(reading_count), sum(valid_count), sum(value_sum), min(value_min), max(value_max)
    FROM readings_1h GROUP BY 1, 2;
END
$migration$;
