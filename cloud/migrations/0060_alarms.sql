-- 0060_alarms: alarm rules per tenant, alarms with their lifecycle and history,
-- and the evaluator's state, persisted so a restarted worker neither re-fires nor forgets.
--
-- A rule is data: its validated body (cloud.alarms.rules, as JSON) under an id that
-- is unique across the platform, because the evaluator keys its state by rule id.
CREATE TABLE alarm_rules (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    kind        text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
    body        jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alarm_rules_tenant_idx ON alarm_rules (tenant_id);

-- One row per alarm: opened by a transition, acknowledged by a person, resolved
-- automatically (the condition cleared) or by hand. "At most one alarm per rule and
-- subject is not resolved" is a unique index, so two ingest workers that both see
-- the condition raise it once: the second insert conflicts and counts a repeat.
CREATE TABLE alarms (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    rule_id         text NOT NULL,
    subject         text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
    gateway_id      text,
    site_id         bigint,
    state           text NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'acknowledged', 'resolved')),
    severity        text NOT NULL DEFAULT 'warning',
    level           text NOT NULL DEFAULT '',
    value           double precision,
    detail          text NOT NULL DEFAULT '',
    late            boolean NOT NULL DEFAULT false,
    repeats         integer NOT NULL DEFAULT 0,
    opened_at       timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by text,
    ack_comment     text,
    resolved_at     timestamptz,
    resolved_by     text,
    resolve_comment text,
    escalated_at    timestamptz
);

CREATE UNIQUE INDEX alarms_one_unresolved ON alarms (rule_id, subject) WHERE state <> 'resolved';
CREATE INDEX alarms_tenant_idx ON alarms (tenant_id, opened_at DESC);
CREATE INDEX alarms_site_idx ON alarms (site_id, opened_at DESC) WHERE site_id IS NOT NULL;

-- Every transition of an alarm: open, level, resolve (the evaluator's), ack, close
-- (by hand), escalate. Notifications are sent from here (notified_at).
CREATE TABLE alarm_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id    bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('open', 'level', 'resolve', 'ack', 'close', 'escalate')),
    at          timestamptz NOT NULL,
    level       text NOT NULL DEFAULT '',
    value       double precision,
    detail      text NOT NULL DEFAULT '',
    late        boolean NOT NULL DEFAULT false,
    actor       text,
    comment     text CHECK (length(comment) <= 2000),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, id);

-- The evaluator's memory per rule and subject (cloud.alarms.state.RuleState as JSON).
-- version counts writes of the whole table, so a worker knows when another one
-- evaluated since it last loaded.
CREATE TABLE alarm_states (
    key         text PRIMARY KEY,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alarm_state_version (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    version     bigint NOT NULL DEFAULT 0
);

INSERT INTO alarm_state_version DEFAULT VALUES;
