"""Per-key token buckets: a sustained rate with a burst, answered by 429 and Retry-After.

Layer: pure logic, time passed in (tests never sleep). Each API process keeps its
own buckets in memory: behind N processes a key gets up to N times its rate,
which the operator accounts for when setting it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_TRACKED_KEYS = 100_000


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; one request spends one."""

    rate_per_s: float
    capacity: float
    tokens: float
    updated_s: float

    def take(self, now_s: float) -> float:
        """Spend a token; return 0 if granted, else the seconds until one is available."""
        elapsed = max(0.0, now_s - self.updated_s)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        self.updated_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """Buckets by key id; a key's bucket follows its current rate and burst."""

    def __init__(self) -> None:
        self._buckets: dict[int, TokenBucket] = {}

    def check(self, key_id: int, rate_per_s: float, burst: int, now_s: float) -> int:
        """0 when the request may go ahead, else the whole seconds to put in Retry-After."""
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate_per_s != rate_per_s or bucket.capacity != burst:
            if len(self._buckets) >= MAX_TRACKED_KEYS:
                self._buckets.clear()
            tokens = float(burst) if bucket is None else min(bucket.tokens, float(burst))
            bucket = TokenBucket(rate_per_s, float(burst), tokens, now_s)
            self._buckets[key_id] = bucket
        wait_s = bucket.take(now_s)
        return 0 if wait_s == 0 else max(1, math.ceil(wait_s))
