-- 0005_device_health: each device's health as its gateway last reported it on up/status.
--
-- 'degraded' means the gateway cannot read the sensor (timeout, Modbus exception,
-- probe missing) while the rest of its bus keeps working; error says why.
ALTER TABLE devices
    ADD COLUMN health text CHECK (health IN ('ok', 'degraded', 'unknown')),
    ADD COLUMN health_error text CHECK (length(health_error) <= 200),
    ADD COLUMN health_at timestamptz,
    ADD CONSTRAINT devices_health_has_time CHECK ((health IS NULL) = (health_at IS NULL));
