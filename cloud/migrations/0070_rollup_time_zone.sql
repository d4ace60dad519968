-- 0070_rollup_time_zone: the zone whose calendar days the daily rollups follow.
--
-- One row. Daily rollups (readings_1d) used to be UTC days; a bureau's day is a
-- local one (China: Beijing time, 00:00-24:00). `shanshui cloud migrate` sets the
-- zone from SHANSHUI_ROLLUP_TIME_ZONE (default Asia/Shanghai) and rebuilds
-- readings_1d from readings_1h when it changes (cloud/storage/rollup_zone.py).
-- Until then, an existing database keeps its UTC days, which is what this
-- migration records. Hourly rollups stay UTC hours: the zone must be a whole
-- number of hours from UTC (checked by the cloud), so a local day is a union of
-- UTC hours and the daily rollup stays exact when built from the hourly one.
--
-- Plain PostgreSQL: the ingest path adds new readings to the day
-- date_trunc('day', time, <zone>), reading the zone from this table in the same
-- statement. TimescaleDB: the daily continuous aggregate is recreated on the
-- hourly one with time_bucket(INTERVAL '1 day', bucket, <zone>).
CREATE TABLE rollup_zone (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    time_zone   text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64)
);
INSERT INTO rollup_zone (time_zone) VALUES ('UTC');
