"""Unique, readable names for per-test resources (databases, topics)."""

from __future__ import annotations

import re
import secrets

import pytest


def unique_name(request: pytest.FixtureRequest, max_len: int = 63) -> str:
    """``<test name>_<random>`` reduced to ``[a-z0-9_]`` and at most ``max_len`` characters."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    suffix = secrets.token_hex(4)
    return f"{stem[: max_len - len(suffix) - 1]}_{suffix}"
