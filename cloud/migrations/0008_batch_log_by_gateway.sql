-- 0008_batch_log_by_gateway: GET /api/v1/gateways reads each gateway's newest batch
-- from an index instead of scanning that gateway's whole batch log.
--
-- max(received_at) per gateway becomes one step down this index (an index-only
-- scan, backwards, limit 1). The build locks ingested_batches against writes
-- while it runs: on a large existing log, run migrate in a quiet moment.
CREATE INDEX ingested_batches_gateway_received_idx
    ON ingested_batches (gateway_id, received_at DESC);
