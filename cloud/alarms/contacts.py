"""Who is told of alarms: a contact's settings, validated (the API's and the CLI's shape).

Layer: pure data (pydantic); no I/O. A contact is a webhook (an ``http(s)://`` URL,
signed with a secret the platform makes: never given, never shown again), an e-mail
address or an SMS number. Quiet hours hold back all but critical alarms in the
contact's time zone; ``rate_per_hour`` caps deliveries; an alarm left open
``escalate_after_s`` goes to the contact ``escalate_to`` as well.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ContactKind = Literal["webhook", "email", "sms"]
Severity = Literal["info", "warning", "critical"]
CONTACT_KINDS: tuple[str, ...] = ("webhook", "email", "sms")
_EMAIL = re.compile(r"[^@\s\x00]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_PHONE = re.compile(r"\+?[0-9]{5,15}")
_RULE_ID = r"^[A-Za-z0-9_.:-]{1,64}$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^\S+$")]
RuleId = Annotated[str, StringConstraints(pattern=_RULE_ID)]


def check_address(kind: str, address: str) -> str:
    """``address`` if it suits ``kind``.

    Raises:
        ValueError: it does not (the message says what is expected).
    """
    if kind == "webhook":
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook's address is an http:// or https:// URL")
    elif kind == "email":
        if not _EMAIL.fullmatch(address):
            raise ValueError("an e-mail contact's address is a mailbox like ops@example.org")
    elif not _PHONE.fullmatch(address):
        raise ValueError("an SMS contact's address is a phone number like +8613800138000")
    return address


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone.

    Raises:
        ValueError: it is not.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (IANA names, e.g. Asia/Shanghai)") from None
    return name


class ContactChanges(BaseModel):
    """What an update changes (fields left out stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    address: Address | None = Field(default=None, description="URL, mailbox or phone number")
    rule_ids: list[RuleId] | None = Field(
        default=None, max_length=1000, description="only these rules' alarms; empty: all"
    )
    min_severity: Severity | None = None
    quiet_from: time | None = Field(default=None, description="quiet hours start (local time)")
    quiet_until: time | None = Field(default=None, description="quiet hours end (local time)")
    time_zone: str | None = Field(default=None, examples=["Asia/Shanghai"])
    rate_per_hour: int | None = Field(default=None, ge=1, le=100_000)
    escalate_to: int | None = Field(default=None, ge=1, description="another contact's id")
    escalate_after_s: int | None = Field(default=None, ge=1, le=7 * 86_400)
    enabled: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.time_zone is not None:
            check_time_zone(self.time_zone)
        return self


class ContactIn(ContactChanges):
    """A new contact."""

    tenant: str | None = Field(
        default=None, description="a platform admin's choice; others: their own tenant"
    )
    kind: ContactKind
    name: Name
    address: Address = Field(description="URL (webhook), mailbox (email), number (sms)")

    @model_validator(mode="after")
    def _address_fits(self) -> Self:
        check_address(self.kind, self.address)
        if (self.quiet_from is None) != (self.quiet_until is None):
            raise ValueError("give both quiet_from and quiet_until, or neither")
        if (self.escalate_to is None) != (self.escalate_after_s is None):
            raise ValueError("give both escalate_to and escalate_after_s, or neither")
        return self
