-- 0004_gateway_presence: what a gateway last said about itself on up/status.
--
-- 'online' when it connects, 'offline' from the broker's last will when the link
-- drops (or on a clean shutdown). Advisory only: status messages are unsigned, so
-- they are kept for registered gateways but never decide what data is accepted.
ALTER TABLE gateways
    ADD COLUMN presence text CHECK (presence IN ('online', 'offline')),
    ADD COLUMN presence_at timestamptz,
    ADD CONSTRAINT gateways_presence_has_time CHECK ((presence IS NULL) = (presence_at IS NULL));
