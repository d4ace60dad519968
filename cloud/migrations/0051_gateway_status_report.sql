-- 0051_gateway_status_report: what a gateway last said about itself on up/status
-- beyond presence: outbox depth (pending readings, unacked/quarantined/resent
-- batches, thinned readings), uptime, clock sync and forged acks, as reported.
-- Informative only; kept as the gateway sent it (whitelisted keys, checked types).
ALTER TABLE gateways ADD COLUMN status_report jsonb;
