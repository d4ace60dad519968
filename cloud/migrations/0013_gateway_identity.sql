-- 0013_gateway_identity: sealed secrets, rotation with a grace period, revocation.
--
-- secret_sealed: secret and previous_secret hold AES-GCM ciphertext under the operator
-- key (SHANSHUI_SECRET_KEY), not the secret itself. Rows written before this migration
-- are plaintext (false) until `shanshui cloud migrate` or the first lookup seals them.
-- previous_secret still verifies until previous_until (rotation without downtime).
-- revoked_at: the gateway's batches are dead-lettered as `revoked` until restored.
ALTER TABLE gateways
    ADD COLUMN secret_sealed   boolean NOT NULL DEFAULT false,
    ADD COLUMN previous_secret bytea CHECK (previous_secret IS NULL OR octet_length(previous_secret) >= 16),
    ADD COLUMN previous_until  timestamptz,
    ADD COLUMN revoked_at      timestamptz;

ALTER TABLE gateways
    ADD CONSTRAINT gateways_previous_has_deadline
    CHECK ((previous_secret IS NULL) = (previous_until IS NULL));
