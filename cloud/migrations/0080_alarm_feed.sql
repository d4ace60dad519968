-- 0080_alarm_feed: the alarm evaluator follows what ingest committed, from the database.
--
-- The evaluator is a process of its own (shanshui cloud alarms run). It reads the
-- batch log and the gateways' presence changes in the order of the transactions
-- that wrote them, and keeps its position (the cursor) in alarm_evaluation, saved in
-- the same transaction as the alarms and rule states a step produced.
--
-- Order without gaps: ids of a sequence are handed out before commit, so a reader
-- that sees id 11 may not see id 10 yet and would skip it. Each row records instead
-- the id of the transaction that wrote it (txid, xid8: 64 bits, never wraps). The
-- cursor is a frontier F and the few transactions below it that were still running
-- when it was set (pending): everything below F but those has been evaluated. A step
-- reads, in one snapshot, the rows of the pending transactions that have committed
-- since and of the oldest committed ones at or above F; it then moves F up and keeps
-- as pending those of the snapshot's running transactions it stepped over. Nothing
-- is skipped, and a long transaction elsewhere delays nothing but itself.
--
-- first_ms/last_ms: the time span of the batch's readings, which the evaluator reads
-- back from readings (series of the batch's gateway, times in the span). Rows of the
-- batch log written before this migration have no txid and are not evaluated (the
-- columns are added without a default first, so the table is not rewritten).
ALTER TABLE ingested_batches
    ADD COLUMN txid xid8,
    ADD COLUMN first_ms bigint,
    ADD COLUMN last_ms bigint;

ALTER TABLE ingested_batches ALTER COLUMN txid SET DEFAULT pg_current_xact_id();

CREATE INDEX ingested_batches_txid_idx ON ingested_batches (txid) WHERE txid IS NOT NULL;

-- A gateway's presence as it changes (online <-> offline), for gateway-offline rules.
-- Written by a trigger, so every path that records presence feeds the evaluator.
CREATE TABLE gateway_presence_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    gateway_id  text NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
    online      boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX gateway_presence_log_txid_idx ON gateway_presence_log (txid);
CREATE INDEX gateway_presence_log_at_idx ON gateway_presence_log (at);

CREATE FUNCTION shanshui_log_presence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.presence IS NOT NULL AND NEW.presence IS DISTINCT FROM OLD.presence THEN
        INSERT INTO gateway_presence_log (gateway_id, online)
        VALUES (NEW.id, NEW.presence = 'online');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER gateways_presence_log AFTER UPDATE OF presence ON gateways
    FOR EACH ROW EXECUTE FUNCTION shanshui_log_presence();

-- Wake the evaluator (LISTEN shanshui_alarm_feed) when something is committed; it also
-- polls, so a lost notification delays evaluation, it never skips anything. One
-- notification per transaction at most (PostgreSQL folds identical ones).
CREATE FUNCTION shanshui_notify_alarm_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shanshui_alarm_feed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER ingested_batches_notify AFTER INSERT ON ingested_batches
    FOR EACH STATEMENT EXECUTE FUNCTION shanshui_notify_alarm_feed();

CREATE TRIGGER gateway_presence_log_notify AFTER INSERT ON gateway_presence_log
    FOR EACH STATEMENT EXECUTE FUNCTION shanshui_notify_alarm_feed();


-- The evaluator's position in both logs (frontier, pending: see above), a generation
-- counted up by every step it commits (an evaluator whose generation differs from the
-- stored one reloads states and position before it goes on: another one evaluated
-- since; replaces the version of 0060), and the rules' version.
CREATE TABLE alarm_evaluation (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    frontier        xid8 NOT NULL DEFAULT '0',
    pending         xid8[] NOT NULL DEFAULT '{}',
    generation      bigint NOT NULL DEFAULT 0,
    rules_version   bigint NOT NULL DEFAULT 0,
    evaluator       text,
    updated_at      timestamptz
);

INSERT INTO alarm_evaluation DEFAULT VALUES;

-- Rules changed: counted in the transaction that changes them, so an evaluator step
-- that sees a batch committed after the change sees the change too (it reads the count
-- in the snapshot in which it chooses the batches) and evaluates it with the new rules.
CREATE FUNCTION shanshui_count_alarm_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alarm_evaluation SET rules_version = rules_version + 1;
    PERFORM pg_notify('shanshui_alarm_rules', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER alarm_rules_count AFTER INSERT OR UPDATE OR DELETE ON alarm_rules
    FOR EACH STATEMENT EXECUTE FUNCTION shanshui_count_alarm_rules();

DROP TABLE alarm_state_version;
