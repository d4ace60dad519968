"""The message of one alarm event: a JSON body, its signature, a line for people.

Layer: pure; no I/O. A webhook receiver checks ``X-Shanshui-Signature:
sha256=<hex>``, the HMAC-SHA256 of the exact body bytes under the contact's
secret, and may use ``event_id`` to recognise a retry of what it already has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from cloud.storage.alarm_eval import Notice

SIGNATURE_HEADER = "X-Shanshui-Signature"


def payload(notice: Notice, severity: str) -> dict[str, Any]:
    """The JSON-ready description of an event."""
    return {
        "event_id": notice.event_id,
        "alarm_id": notice.alarm_id,
        "kind": notice.kind,
        "tenant": notice.tenant,
        "rule_id": notice.rule_id,
        "subject": notice.subject,
        "severity": severity,
        "level": notice.level,
        "value": notice.value,
        "detail": notice.detail,
        "time": datetime.fromtimestamp(notice.time_ms / 1000, UTC).isoformat(),
        "station_id": notice.site_id,
        "gateway_id": notice.gateway_id,
    }


def body(notice: Notice, severity: str) -> bytes:
    """The webhook body: compact JSON, keys sorted."""
    return json.dumps(payload(notice, severity), sort_keys=True, separators=(",", ":")).encode()


def sign(secret: bytes, data: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``data``."""
    return "sha256=" + hmac.new(secret, data, hashlib.sha256).hexdigest()


def subject_line(notice: Notice, severity: str) -> str:
    """A one-line summary (e-mail subject, SMS)."""
    what = {"open": "ALARM", "level": "LEVEL", "resolve": "resolved", "escalate": "UNACKNOWLEDGED"}
    level = f" {notice.level}" if notice.level else ""
    return (
        f"[{severity}] {what.get(notice.kind, notice.kind)}{level}: {notice.rule_id} "
        f"{notice.subject}"
    )


def text(notice: Notice, severity: str) -> str:
    """A few lines for people (e-mail body)."""
    data = payload(notice, severity)
    return "\n".join(f"{key}: {value}" for key, value in data.items() if value is not None) + "\n"
