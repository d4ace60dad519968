-- 0065_reading_means: which stored readings are means a gateway's full outbox thinned.
-- A thinned reading (wire batch: a sixth element, mean_of >= 2) is stored in
-- readings like any other; this side table says how many raw readings it averages.
-- Rows exist only for means (rare: an outbox overflowed), so the readings
-- hypertable and its hot insert path stay as they were; queries LEFT JOIN it.
-- Rows of readings removed by retention are left behind (a few bytes each).
CREATE TABLE reading_means (
    series_id   bigint NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    time        timestamptz NOT NULL,
    mean_of     integer NOT NULL CHECK (mean_of >= 2),
    PRIMARY KEY (series_id, time)
);
