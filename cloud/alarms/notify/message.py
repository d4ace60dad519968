"""The message of one alarm event: a JSON body, its signature, lines for people.

Layer: pure; no I/O. A webhook receiver checks ``X-Shanshui-Signature:
sha256=<hex>``, the HMAC-SHA256 of the exact body bytes under the contact's
secret (the 32 bytes that the hex string shown at creation encodes), and may use
``event_id`` to recognise a retry of what it already has. People read the station's
name, the rule's name and the time in the station's time zone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.storage.alarm_deliveries import AlarmContext
from cloud.storage.alarm_eval import Notice

SIGNATURE_HEADER = "X-Shanshui-Signature"
NO_CONTEXT = AlarmContext(None, "Asia/Shanghai", "")
_WHAT = {"open": "ALARM", "level": "LEVEL", "resolve": "resolved", "escalate": "UNACKNOWLEDGED"}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event as it is sent: the event, the alarm's severity, names for people."""

    notice: Notice
    severity: str
    context: AlarmContext = NO_CONTEXT

    def local_time(self) -> datetime:
        """The event's time in the station's time zone (UTC if that zone is unknown)."""
        at = datetime.fromtimestamp(self.notice.time_ms / 1000, UTC)
        try:
            return at.astimezone(ZoneInfo(self.context.time_zone))
        except (ZoneInfoNotFoundError, ValueError):
            return at


def payload(out: Outgoing) -> dict[str, Any]:
    """The JSON-ready description of an event."""
    notice = out.notice
    return {
        "event_id": notice.event_id,
        "alarm_id": notice.alarm_id,
        "kind": notice.kind,
        "tenant": notice.tenant,
        "rule_id": notice.rule_id,
        "rule_name": out.context.rule_name or None,
        "subject": notice.subject,
        "severity": out.severity,
        "level": notice.level,
        "value": notice.value,
        "detail": notice.detail,
        "time": datetime.fromtimestamp(notice.time_ms / 1000, UTC).isoformat(),
        "station_id": notice.site_id,
        "station": out.context.station,
        "gateway_id": notice.gateway_id,
    }


def body(out: Outgoing) -> bytes:
    """The webhook body: compact JSON (UTF-8), keys sorted."""
    return json.dumps(
        payload(out), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def sign(secret: bytes, data: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``data``."""
    return "sha256=" + hmac.new(secret, data, hashlib.sha256).hexdigest()


def subject_line(out: Outgoing) -> str:
    """A one-line summary (e-mail subject, SMS): severity, what, where, which rule."""
    notice = out.notice
    level = f" {notice.level}" if notice.level and notice.level != out.severity else ""
    where = out.context.station or notice.subject
    rule = out.context.rule_name or notice.rule_id
    return f"[{out.severity}] {_WHAT.get(notice.kind, notice.kind)}{level}: {where}: {rule}"


def text(out: Outgoing) -> str:
    """A few lines for people (e-mail body): the summary, the local time, then every field."""
    local = out.local_time()
    head = [
        subject_line(out),
        out.notice.detail,
        f"{local:%Y-%m-%d %H:%M:%S} ({out.context.time_zone if local.tzinfo != UTC else 'UTC'})",
        "",
    ]
    data = payload(out)
    return (
        "\n".join([*head, *(f"{key}: {value}" for key, value in data.items() if value is not None)])
        + "\n"
    )
