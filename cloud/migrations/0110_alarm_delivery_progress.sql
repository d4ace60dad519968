-- 0110_alarm_delivery_progress: a delivery left 'sending' by a notifier that died is taken up again.
--
-- updated_at moves with every attempt (and when a notifier takes a delivery up): a
-- 'sending' row that has not moved for longer than a notifier ever waits between two
-- attempts belongs to no live notifier, and the active evaluator's notifier resumes it
-- from its attempt count. Escalations now record their delivery row in the same
-- statement that marks the alarm escalated, so a crash between the two loses nothing.
ALTER TABLE alarm_deliveries ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX alarm_deliveries_sending_idx ON alarm_deliveries (updated_at) WHERE status = 'sending';
