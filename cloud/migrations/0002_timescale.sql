-- 0002_timescale: turn readings into a TimescaleDB hypertable where TimescaleDB exists.
--
-- On plain PostgreSQL (the embedded server, CI) this migration does nothing but
-- raise a NOTICE, and is still recorded as applied. Consequence: a database that
-- is migrated first and gets TimescaleDB later keeps a plain readings table until
-- an operator converts it (the same create_hypertable call as below).
--
-- The extension must be preloaded (shared_preload_libraries = 'timescaledb') for
-- CREATE EXTENSION to work, so an installed-but-not-preloaded TimescaleDB counts
-- as absent; an extension already created in the database (by a DBA, for an
-- application role that is not superuser) is used without that check. Uses the generalised create_hypertable API (TimescaleDB >= 2.13):
-- by_range() for the time dimension, if_not_exists so a DBA's earlier conversion
-- is kept, migrate_data so rows already in readings move into chunks.
--
-- Later migrations, once the query layer uses them (each guarded the same way):
--   * compression: ALTER TABLE readings SET (timescaledb.compress,
--     timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'time DESC')
--     and add_compression_policy('readings', INTERVAL '7 days');
--   * retention: add_retention_policy('readings', <per-deployment interval>), and
--     the same horizon for ingested_batches and dead_letters by plain DELETE;
--   * continuous aggregates readings_1h and readings_1d (avg, min, max, count per
--     series and bucket, over quality 'N' rows) with add_continuous_aggregate_policy;
--     on plain PostgreSQL the same rollups as ordinary tables filled by the cloud.

DO $migration$
DECLARE
    version int[];
    preload text;
BEGIN
    -- An extension a DBA already created is used as it is. Only otherwise do we look
    -- at shared_preload_libraries: reading it needs superuser or pg_read_all_settings,
    -- which the usual application role (extension made for it by a DBA) does not have.
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
            RAISE NOTICE 'timescaledb is not installed: readings stays a plain table';
            RETURN;
        END IF;
        BEGIN
            preload := current_setting('shared_preload_libraries', true);
        EXCEPTION WHEN insufficient_privilege THEN
            -- such a role could not CREATE EXTENSION timescaledb either
            RAISE NOTICE 'timescaledb is not created in this database and this role may not '
                         'read shared_preload_libraries: readings stays a plain table';
            RETURN;
        END;
        IF coalesce(preload, '') NOT LIKE '%timescaledb%' THEN
            RAISE NOTICE 'timescaledb is installed but not in shared_preload_libraries: '
                         'readings stays a plain table';
            RETURN;
        END IF;
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;

    SELECT string_to_array(split_part(extversion, '-', 1), '.')::int[]
      INTO version
      FROM pg_extension WHERE extname = 'timescaledb';
    IF version < ARRAY[2, 13] THEN
        RAISE EXCEPTION 'timescaledb % is too old: Shanshui needs 2.13 or newer',
            array_to_string(version, '.');
    END IF;

    -- TimescaleDB builds its own per-chunk time index; the BRIN index of 0001 is redundant.
    DROP INDEX IF EXISTS readings_time_brin;

    -- One-day chunks: at 10 000 series sampled each minute a chunk holds ~14 M rows,
    -- small enough for its indexes to stay in memory on a modest server.
    PERFORM create_hypertable(
        'readings',
        by_range('time', INTERVAL '1 day'),
        if_not_exists => TRUE,
        migrate_data => TRUE
    );
END
$migration$;
