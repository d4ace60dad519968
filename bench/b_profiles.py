"""Profile library: load time, and the decode path per value (registers or an ASCII line)."""

from __future__ import annotations

import time

from bench.timing import best_of
from device_profiles import (
    builtin_profile,
    decode_block,
    encode_point,
    load_quantities,
    measure,
    plan_reads,
    profile_names,
)
from device_profiles.ascii import decode_frame, format_line, parse_line
from device_profiles.loader import check_files, library_files
from device_profiles.measure import from_canonical
from simulators.signals import physical_value

NOW_S = 1_764_489_600.0


def run() -> None:
    """Print library load time, decode+measure per value, and ASCII lines per second."""
    start = time.perf_counter()
    problems = check_files(library_files())
    loaded_s = time.perf_counter() - start
    print(f"  load and check {len(library_files())} profiles: {loaded_s * 1e3:.0f} ms, {problems}")
    quantities = load_quantities()
    work = []
    for name in profile_names():
        profile = builtin_profile(name)
        if profile.protocol != "modbus":
            continue
        image: dict[int, int] = {}
        for point in profile.points:
            quantity = quantities[point.quantity]
            own = from_canonical(point, quantity, physical_value(quantity, NOW_S, key=point.name))
            if point.valid is not None:
                own = min(point.valid.max, max(point.valid.min, own))
            for offset, word in enumerate(encode_point(point, own)):
                image[point.address + offset] = word
        for block in plan_reads(profile.points):
            registers = [image[a] for a in range(block.start, block.start + block.count)]
            work.append((block, registers))
    values = sum(len(block.points) for block, _ in work)

    def decode_all() -> None:
        for block, registers in work:
            decoded = decode_block(block, registers)
            for point in block.points:
                measure(point, quantities[point.quantity], decoded[point.name])

    elapsed = best_of(decode_all, number=20)
    print(
        f"  registers -> canonical value + flag, whole library ({values} values): "
        f"{elapsed / values * 1e6:.1f} µs/value ({values / elapsed:,.0f} values/s)"
    )
    windsonic = builtin_profile("gill-windsonic").ascii
    assert windsonic is not None
    line = format_line(windsonic, {"direction": 123.0, "speed": 4.56})

    def parse() -> None:
        _, text = decode_frame(windsonic, line)
        assert text is not None
        parse_line(windsonic, text)

    per_line = best_of(parse, number=2000)
    print(f"  ASCII line (WindSonic, XOR checksum): {per_line * 1e6:.1f} µs/line")
