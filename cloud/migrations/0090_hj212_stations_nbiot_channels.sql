-- 0090_hj212_stations_nbiot_channels: the HJ 212 data loggers the cloud accepts and each
-- NB-IoT gateway's channel table, in the database instead of files read at start (a
-- change takes effect at the next packet or frame, without a restart).
--
-- A station's password and SM4 key are sealed like gateway secrets (AES-256-GCM under
-- SHANSHUI_SECRET_KEY, associated data 'hj212:<mn>' and 'hj212-sm4:<mn>'); `sealed`
-- says so (false only for a keyless storage: libraries and tests).
CREATE TABLE hj212_stations (
    mn          text PRIMARY KEY CHECK (mn ~ '^[0-9A-Za-z]{1,27}$'),
    gateway_id  text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    password    bytea NOT NULL,
    sm4_key     bytea,
    sealed      boolean NOT NULL,
    edition     text NOT NULL CHECK (edition IN ('2017', '2025')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((edition = '2025') = (sm4_key IS NOT NULL))
);
CREATE INDEX hj212_stations_gateway ON hj212_stations (gateway_id);

-- A compact frame names a channel by its position in this table and the table by a
-- digest of (device, quantity, decimals) in order: the rows must match the gateway's
-- gateway.yaml `uplink.channels`, same order.
CREATE TABLE nbiot_channels (
    gateway_id  text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position >= 0),
    device      text NOT NULL CHECK (length(device) BETWEEN 1 AND 64),
    quantity    text NOT NULL CHECK (length(quantity) BETWEEN 1 AND 64),
    decimals    smallint NOT NULL CHECK (decimals BETWEEN -9 AND 9),
    PRIMARY KEY (gateway_id, position),
    UNIQUE (gateway_id, device, quantity)
);
