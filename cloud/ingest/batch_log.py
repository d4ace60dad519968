"""Log fields naming the batch a log line is about: ``gateway=<id> seq=<n>``.

Layer: ingest logic, pure. Every log line about a batch carries both in its
text (``key=value``, greppable) and as ``extra`` attributes ``gateway_id`` and
``seq`` (for a JSON log formatter). A refused message's gateway and seq are as
claimed (read from the unverified envelope), ``-`` when unreadable.
"""

from __future__ import annotations

import json

from wire import WireError, open_envelope


def claimed_seq(payload: bytes) -> int | None:
    """The seq a signed envelope's body claims, or None (never raises)."""
    try:
        body = json.loads(open_envelope(payload).body)
    except (WireError, ValueError):
        return None
    seq = body.get("seq") if isinstance(body, dict) else None
    return seq if type(seq) is int else None


def batch_fields(gateway_id: str | None, seq: int | None) -> str:
    """``gateway=<id> seq=<n>`` with ``-`` for what is unknown."""
    return f"gateway={gateway_id or '-'} seq={'-' if seq is None else seq}"


def batch_extra(gateway_id: str | None, seq: int | None) -> dict[str, object]:
    """The same as ``logging`` ``extra`` attributes."""
    return {"gateway_id": gateway_id, "seq": seq}
