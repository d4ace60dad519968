-- 0001_init: tenants, sites, gateways, devices, series, readings, ingest bookkeeping.
--
-- Plain PostgreSQL (13+). TimescaleDB specifics live in later migrations so that
-- this schema is the same on the embedded server, in CI and in production.
-- Identifiers that come from the wire (gateway, device) follow wire's rules:
-- 1-64 characters of letters, digits, '_', '.', ':', '-', starting alphanumeric.

CREATE TABLE tenants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO tenants (name) VALUES ('default');

CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    -- lets gateways reference (site, tenant) so a gateway's site is in its own tenant
    UNIQUE (id, tenant_id),
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);

CREATE TABLE gateways (
    id          text PRIMARY KEY
                CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    site_id     bigint,
    -- HMAC-SHA256 key; wire refuses keys under 16 bytes, we issue 32.
    secret      bytea NOT NULL CHECK (octet_length(secret) >= 16),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled    boolean NOT NULL DEFAULT false,
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id)
);

CREATE INDEX gateways_tenant_idx ON gateways (tenant_id);
CREATE INDEX gateways_site_idx ON gateways (site_id) WHERE site_id IS NOT NULL;

CREATE TABLE devices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_id  text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    name        text NOT NULL
                CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    model       text CHECK (length(model) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gateway_id, name)
);

CREATE TABLE series (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    -- a code of device_profiles/quantities.yaml; the vocabulary is checked on ingest
    quantity    text NOT NULL
                CHECK (quantity ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    unit        text NOT NULL CHECK (length(unit) BETWEEN 1 AND 32),
    site_id     bigint REFERENCES sites (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, quantity)
);

CREATE INDEX series_site_idx ON series (site_id) WHERE site_id IS NOT NULL;
CREATE INDEX series_quantity_idx ON series (quantity);

-- The narrow table. The primary key (series_id, time) is the idempotency key of
-- ingest (ON CONFLICT DO NOTHING) and the index every per-series range query and
-- "latest per series" uses. It includes the time column, as a hypertable requires.
CREATE TABLE readings (
    time        timestamptz NOT NULL,
    series_id   bigint NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    value       double precision NOT NULL,
    -- HJ 212-2017 data flags: Normal, stopped (F), Maintenance, manual (S),
    -- fault (D), Calibration, over range (T), comms fault (B)
    quality     char(1) NOT NULL DEFAULT 'N'
                CHECK (quality IN ('N', 'F', 'M', 'S', 'D', 'C', 'T', 'B')),
    PRIMARY KEY (series_id, time)
);

-- Cheap time-only index for scans across series (exports, retention by DELETE on
-- plain PostgreSQL); rows arrive roughly in time order, which suits BRIN.
-- 0002 drops it when TimescaleDB takes over partitioning and indexing by time.
CREATE INDEX readings_time_brin ON readings USING brin (time);

-- One row per accepted batch: (gateway, seq) makes a batch idempotent.
CREATE TABLE ingested_batches (
    gateway_id      text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    seq             bigint NOT NULL CHECK (seq >= 0),
    received_at     timestamptz NOT NULL DEFAULT now(),
    reading_count   integer NOT NULL CHECK (reading_count >= 0),
    -- where it came in, e.g. the MQTT topic
    source          text NOT NULL DEFAULT '',
    PRIMARY KEY (gateway_id, seq)
);

CREATE INDEX ingested_batches_received_idx ON ingested_batches (received_at);

-- Messages that could not be accepted, kept with the reason for an operator.
-- gateway_id is the id the message claimed (unverified), so no foreign key.
CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL,
    gateway_id      text CHECK (length(gateway_id) <= 256),
    reason          text NOT NULL CHECK (reason ~ '^[a-z][a-z_]{0,63}$'),
    detail          text NOT NULL,
    payload         bytea NOT NULL,
    -- size of the message as received; payload may be cut to a bounded prefix
    payload_size    integer NOT NULL CHECK (payload_size >= 0)
);

CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_gateway_idx ON dead_letters (gateway_id, received_at DESC)
    WHERE gateway_id IS NOT NULL;
