-- 0007_columnstore: compress old readings on TimescaleDB (the columnstore).
--
-- Chunks are segmented by series and ordered by time, newest first: a query for
-- one series over a time range decompresses only that series' segments. The
-- policy added here converts chunks older than 7 days; `shanshui cloud migrate`
-- then sets the age each deployment configured (SHANSHUI_COMPRESS_AFTER_DAYS) and
-- the optional retention policy (SHANSHUI_RETENTION_DAYS, none by default), see
-- cloud/storage/policies.py. Late readings may still be written into compressed
-- chunks (TimescaleDB >= 2.11 supports INSERT ... ON CONFLICT on them).
--
-- Without TimescaleDB this migration does nothing.
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
    IF NOT hypertable THEN
        RAISE NOTICE 'readings is not a hypertable: no columnstore';
        RETURN;
    END IF;
    ALTER TABLE readings SET (
        timescaledb.enable_columnstore = true,
        timescaledb.segmentby = 'series_id',
        timescaledb.orderby = 'time DESC'
    );
    CALL add_columnstore_policy('readings', after => INTERVAL '7 days', if_not_exists => true);
END
$migration$;
