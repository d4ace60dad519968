"""Request and response shapes of the alarm, alarm-rule and alarm-contact routes.

Layer: HTTP data shapes; no I/O.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.alarms.rules import Rule
from cloud.storage.alarm_contact_admin import ContactRecord
from cloud.storage.alarm_deliveries import DeliveryRecord
from cloud.storage.alarms import MAX_COMMENT_CHARS, Alarm, AlarmEvent, AlarmState

DeliveryStatus = Literal["sending", "sent", "dead", "quiet", "limited"]
Comment = Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS, pattern=r"^[^\x00]*$")]


class AckIn(BaseModel):
    """An acknowledgement, optionally with a comment."""

    model_config = ConfigDict(extra="forbid")

    comment: Comment | None = Field(default=None, examples=["technician on the way"])


class ResolveIn(BaseModel):
    """A resolution by hand: the comment says why."""

    model_config = ConfigDict(extra="forbid")

    comment: Annotated[Comment, StringConstraints(min_length=1)] = Field(
        examples=["sensor cleaned, readings normal again"]
    )


class AlarmOut(BaseModel):
    """An alarm and where it stands (open -> acknowledged -> resolved)."""

    id: int
    tenant: str
    rule_id: str
    subject: str = Field(description="series key gateway/device/quantity, station or gateway")
    gateway_id: str | None
    site_id: int | None
    state: AlarmState
    severity: str
    level: str
    value: float | None
    detail: str
    late: bool = Field(description="raised by data that arrived late (backfill): not notified")
    repeats: int
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="'auto' when the condition cleared")
    resolve_comment: str | None

    @classmethod
    def of(cls, alarm: Alarm) -> AlarmOut:
        """From storage's record."""
        return cls.model_validate(alarm, from_attributes=True)


class AlarmEventOut(BaseModel):
    """One step of an alarm's history."""

    id: int
    kind: str = Field(description="open, level, resolve, ack, close (by hand) or escalate")
    at: datetime
    level: str
    value: float | None
    detail: str
    late: bool
    actor: str | None
    comment: str | None

    @classmethod
    def of(cls, event: AlarmEvent) -> AlarmEventOut:
        """From storage's record."""
        return cls.model_validate(event, from_attributes=True)


class RulesIn(BaseModel):
    """Rules to create or replace, all or none."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(max_length=10_000)


class ContactOut(BaseModel):
    """An alarm contact, without its secret (a webhook's is shown once, when made)."""

    id: int
    tenant: str
    name: str
    kind: str = Field(description="webhook, email or sms")
    address: str
    has_secret: bool = Field(description="a webhook's signing secret exists (never shown)")
    rule_ids: list[str] = Field(description="only these rules' alarms; empty: all")
    min_severity: str
    quiet_from: time | None
    quiet_until: time | None
    time_zone: str
    rate_per_hour: int
    escalate_to: int | None
    escalate_after_s: int | None
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, contact: ContactRecord) -> ContactOut:
        """From storage's record."""
        return cls.model_validate(contact, from_attributes=True)


class ContactCreated(ContactOut):
    """A new contact; a webhook's signing secret (hex), shown this once."""

    secret: str | None = Field(
        description="hex of the 32-byte HMAC-SHA256 key of X-Shanshui-Signature (verify with "
        "the bytes it encodes); shown only now (webhooks)"
    )


class SecretOut(BaseModel):
    """A new webhook signing secret (hex of the 32-byte key), shown this once."""

    secret: str


class DeliveryOut(BaseModel):
    """One alarm event's delivery to a contact: the dead-letter record when ``dead``."""

    id: int
    contact_id: int
    event_id: int
    alarm_id: int
    event_kind: str = Field(description="open, level, resolve or escalate")
    status: DeliveryStatus = Field(
        description="sending (retrying), sent, dead (gave up), quiet (quiet hours), "
        "limited (rate limit)"
    )
    attempts: int
    last_error: str | None
    created_at: datetime
    done_at: datetime | None

    @classmethod
    def of(cls, delivery: DeliveryRecord) -> DeliveryOut:
        """From storage's record."""
        return cls.model_validate(delivery, from_attributes=True)


class Redelivered(BaseModel):
    """Dead deliveries queued again."""

    queued: int = Field(description="how many of the last day's dead deliveries")
