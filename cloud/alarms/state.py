"""The evaluator's memory of one rule and subject, and its JSON form.

Layer: plain data; no I/O. Storage persists :meth:`RuleState.to_dict` so a
restarted worker neither re-fires an open alarm nor forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RuleState:
    """Where one (rule, subject) pair stands."""

    level: int = 0  # 0: no open alarm; otherwise the open alarm's level
    opened_ms: int | None = None
    candidate: int | None = None  # a level the condition has shown but not yet held long
    candidate_since_ms: int | None = None
    last_ms: int | None = None  # time of the newest sample evaluated (older ones are stale)
    limit_ms: int | None = None  # absence rules: the silence that opens an alarm
    cause: str | None = None  # absence rules: "silent" or "offline"
    windows: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def quiet(self) -> bool:
        """No alarm open, no level pending, no window: nothing but the newest reading's time."""
        return not self.level and self.candidate is None and not self.windows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "level": self.level,
            "opened_ms": self.opened_ms,
            "candidate": self.candidate,
            "candidate_since_ms": self.candidate_since_ms,
            "last_ms": self.last_ms,
            "limit_ms": self.limit_ms,
            "cause": self.cause,
            # (time, value) pairs: JSON arrays like lists, and immutable, so a shallow copy
            "windows": {n: list(p) for n, p in self.windows.items()} if self.windows else {},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleState:
        """The state :meth:`to_dict` wrote.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not such a dictionary.
        """
        return cls(
            level=int(data["level"]),
            opened_ms=_optional_int(data["opened_ms"]),
            candidate=_optional_int(data["candidate"]),
            candidate_since_ms=_optional_int(data["candidate_since_ms"]),
            last_ms=_optional_int(data["last_ms"]),
            limit_ms=_optional_int(data.get("limit_ms")),
            cause=data.get("cause"),
            windows={
                str(name): [(int(t), float(v)) for t, v in points]
                for name, points in data["windows"].items()
            },
        )

    def push(self, name: str, point: tuple[int, float], span_ms: float) -> list[tuple[int, float]]:
        """Append ``(time_ms, value)`` to a named window; drop points older than ``span_ms``."""
        points = self.windows.setdefault(name, [])
        points.append(point)
        cutoff = point[0] - span_ms
        while points and points[0][0] < cutoff:
            points.pop(0)
        return points


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
