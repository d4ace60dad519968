-- 0021_site_attributes: what the standards need to know about a station (site).
--
-- region_code: the administrative division code (GB/T 2260, 6 digits, optionally
-- followed by township digits, up to 12). monitoring_type decides which standard
-- applies; noise_zone is the GB 3096-2008 functional-zone class; water_body and
-- water_target_class (GB 3838-2002 I-V) describe a surface-water section. Calendar
-- buckets of aggregates are cut in time_zone (an IANA name, checked by the cloud).
ALTER TABLE sites
    ADD COLUMN region_code text CHECK (region_code ~ '^[0-9]{6}([0-9]{3}([0-9]{3})?)?$'),
    ADD COLUMN monitoring_type text CHECK (monitoring_type IN
        ('air', 'surface_water', 'noise', 'soil', 'farm', 'barn', 'pond', 'geohazard')),
    ADD COLUMN noise_zone text CHECK (noise_zone IN ('0', '1', '2', '3', '4a', '4b')),
    ADD COLUMN water_body text CHECK (length(water_body) BETWEEN 1 AND 200),
    ADD COLUMN water_target_class text CHECK (water_target_class IN ('I', 'II', 'III', 'IV', 'V')),
    ADD COLUMN time_zone text NOT NULL DEFAULT 'Asia/Shanghai'
        CHECK (length(time_zone) BETWEEN 1 AND 64);

CREATE INDEX sites_region_idx ON sites (region_code text_pattern_ops) WHERE region_code IS NOT NULL;
