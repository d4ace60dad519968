-- 0020_api_keys: API keys with a role and a scope, sharing grants between tenants, audit log.
--
-- A key is a random 256-bit token shown once; only its SHA-256 is kept (token_hash),
-- with a short public prefix so operators can tell keys apart in listings. Its scope
-- is a tenant (department; NULL only for a platform admin) optionally narrowed to
-- administrative-region code prefixes, sites or gateways. Revocation is a timestamp,
-- so the audit trail keeps naming the key.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix      text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9_-]{8,16}$'),
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('admin', 'analyst', 'technician', 'sharing')),
    tenant_id   bigint REFERENCES tenants (id),
    regions     text[] NOT NULL DEFAULT '{}',
    site_ids    bigint[] NOT NULL DEFAULT '{}',
    gateway_ids text[] NOT NULL DEFAULT '{}',
    -- token bucket: sustained requests per second and the burst it may spend at once
    rate_per_s  double precision NOT NULL DEFAULT 20 CHECK (rate_per_s > 0 AND rate_per_s <= 100000),
    burst       integer NOT NULL DEFAULT 100 CHECK (burst BETWEEN 1 AND 1000000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK (tenant_id IS NOT NULL OR role = 'admin')
);

-- Data one tenant shares with another: optionally only some quantities and only
-- readings timed within [valid_from, valid_until); usable until expires_at unless revoked.
CREATE TABLE sharing_grants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_tenant_id  bigint NOT NULL REFERENCES tenants (id),
    to_tenant_id    bigint NOT NULL REFERENCES tenants (id),
    quantities      text[] NOT NULL DEFAULT '{}',
    valid_from      timestamptz,
    valid_until     timestamptz,
    expires_at      timestamptz,
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK (from_tenant_id <> to_tenant_id),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);

CREATE INDEX sharing_grants_to_idx ON sharing_grants (to_tenant_id) WHERE revoked_at IS NULL;

-- Exports and administrative actions. actor is 'key:<prefix>' or 'cli:<user>'.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    tenant_id   bigint REFERENCES tenants (id),
    action      text NOT NULL CHECK (action ~ '^[a-z][a-z_.]{0,63}$'),
    target      text NOT NULL DEFAULT '' CHECK (length(target) <= 500),
    detail      jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
