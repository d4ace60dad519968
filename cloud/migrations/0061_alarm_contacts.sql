-- 0061_alarm_contacts: who is told of alarms, and every attempt to tell them.
--
-- A contact belongs to a tenant and hears of its alarms (of min_severity or worse,
-- of the rules listed, or all). kind: webhook (address = URL, signed with secret,
-- HMAC-SHA256 over the body), email (address = mailbox), sms (address = number).
-- Quiet hours [quiet_from, quiet_until) in the contact's time zone hold back all but
-- critical alarms; rate_per_hour caps what one contact gets. An alarm left
-- unacknowledged escalate_after_s seconds is sent to escalate_to as well.
CREATE TABLE alarm_contacts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants (id),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind              text NOT NULL CHECK (kind IN ('webhook', 'email', 'sms')),
    address           text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
    secret            bytea CHECK (secret IS NULL OR octet_length(secret) >= 16),
    rule_ids          text[] NOT NULL DEFAULT '{}',
    min_severity      text NOT NULL DEFAULT 'info'
                      CHECK (min_severity IN ('info', 'warning', 'critical')),
    quiet_from        time,
    quiet_until       time,
    time_zone         text NOT NULL DEFAULT 'Asia/Shanghai',
    rate_per_hour     integer NOT NULL DEFAULT 60 CHECK (rate_per_hour BETWEEN 1 AND 100000),
    escalate_to       bigint REFERENCES alarm_contacts (id),
    escalate_after_s  integer CHECK (escalate_after_s > 0),
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'webhook' OR secret IS NOT NULL),
    CHECK ((quiet_from IS NULL) = (quiet_until IS NULL))
);

CREATE INDEX alarm_contacts_tenant_idx ON alarm_contacts (tenant_id) WHERE enabled;

-- One row per (contact, alarm event): unique, so an event is sent to a contact once
-- whichever worker sends it. status: sending, sent, dead (retries exhausted: the
-- dead-letter record), quiet (held back by quiet hours), limited (rate limit).
CREATE TABLE alarm_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES alarm_contacts (id) ON DELETE CASCADE,
    event_id    bigint NOT NULL REFERENCES alarm_events (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'sending'
                CHECK (status IN ('sending', 'sent', 'dead', 'quiet', 'limited')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz,
    UNIQUE (contact_id, event_id)
);

CREATE INDEX alarm_deliveries_contact_idx ON alarm_deliveries (contact_id, created_at DESC);
