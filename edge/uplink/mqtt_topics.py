"""The gateway's MQTT topics and its bare presence message.

Layer: names only (no I/O). ``{root}/{gateway}/up/telemetry`` carries signed
batches, ``up/status`` the retained presence, ``down/ack`` the cloud's signed
settlements; the control topics (``down/config``, ``down/cmd``, ``up/cmd-ack``)
are in :mod:`edge.remote_link`.
"""

from __future__ import annotations

import json
import time


def telemetry_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/up/telemetry``."""
    return f"{topic_root}/{gateway_id}/up/telemetry"


def ack_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/down/ack``: the cloud's signed settlements."""
    return f"{topic_root}/{gateway_id}/down/ack"


def status_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/up/status`` (retained)."""
    return f"{topic_root}/{gateway_id}/up/status"


def status_payload(state: str, gateway_id: str) -> bytes:
    """The bare presence message: the last will, the clean-close offline message."""
    body = {"state": state, "gw": gateway_id, "time_ms": int(time.time() * 1000)}
    return json.dumps(body, separators=(",", ":")).encode()
