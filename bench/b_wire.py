"""Telemetry batch v1: encode+sign and verify+decode rates, batch sizes on the wire."""

from __future__ import annotations

import random

from bench.timing import best_of
from device_profiles import builtin_profile, decode_point, encode_point
from wire import Batch, Quality, Reading, open_envelope, sign_batch, verify_envelope

SECRET = bytes(range(32))


def _batch(size: int) -> Batch:
    rng = random.Random(1)
    readings = tuple(
        Reading(
            f"dev{i % 20}",
            "air_temperature",
            1_790_000_000_000 + i * 1000,
            round(rng.uniform(-10, 40), 1),
            Quality.NORMAL,
        )
        for i in range(size)
    )
    return Batch("gw-bench-01", 12345, readings)


def run() -> None:
    """Print per-batch times and readings per second for several batch sizes."""
    for size in (1, 50, 500):
        batch = _batch(size)
        payload = sign_batch(batch, SECRET)
        t_sign = best_of(lambda b=batch: sign_batch(b, SECRET), number=200 if size < 500 else 20)
        t_verify = best_of(
            lambda p=payload: verify_envelope(open_envelope(p), SECRET),
            number=200 if size < 500 else 20,
        )
        print(
            f"  {size:4d} readings: {len(payload):7d} B ({len(payload) / size:6.1f} B/reading)  "
            f"sign {t_sign * 1e6:8.1f} µs ({size / t_sign:10,.0f} r/s)  "
            f"verify {t_verify * 1e6:8.1f} µs ({size / t_verify:10,.0f} r/s)"
        )
    point = builtin_profile("jxct-th-rs485").point("temperature")
    registers = encode_point(point, -10.1)
    t_decode = best_of(lambda: decode_point(point, registers), number=10_000)
    print(f"  register decode (int16, scale 0.1): {t_decode * 1e6:.2f} µs/point")
