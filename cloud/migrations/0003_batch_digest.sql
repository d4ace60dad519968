-- 0003_batch_digest: tell a true replay from a reused sequence number.
--
-- (gateway_id, seq) alone cannot: a gateway that lost its outbox and counts again
-- from an old seq would have every new batch acknowledged as a "duplicate" and
-- dropped. With the SHA-256 of the batch as stored, a replay (same digest) is
-- skipped and a reuse (other digest) is dead-lettered as 'seq_reused', payload
-- and all, so nothing is lost. Rows from before this migration have no digest and
-- are treated as replays, as before.
ALTER TABLE ingested_batches
    ADD COLUMN digest bytea CHECK (digest IS NULL OR octet_length(digest) = 32);
