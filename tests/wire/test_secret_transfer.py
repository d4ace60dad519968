"""A new secret sealed for a gateway: round trip, and nothing opens it but the right key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.strategies import IDS, SECRETS
from wire import MalformedError
from wire.secret_transfer import NONCE_BYTES, open_secret, seal_secret

COMMAND_IDS = st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)


@given(SECRETS, SECRETS, IDS, COMMAND_IDS)
def test_round_trip(new: bytes, current: bytes, gateway: str, command: str) -> None:
    sealed = seal_secret(new, current, gateway, command)
    assert new not in sealed
    assert open_secret(sealed, current, gateway, command) == new


@given(SECRETS, SECRETS, SECRETS, IDS, COMMAND_IDS)
def test_another_secret_does_not_open(
    new: bytes, current: bytes, other: bytes, gateway: str, command: str
) -> None:
    if other == current:
        return
    sealed = seal_secret(new, current, gateway, command)
    with pytest.raises(MalformedError):
        open_secret(sealed, other, gateway, command)


@given(SECRETS, SECRETS, st.tuples(IDS, COMMAND_IDS), st.tuples(IDS, COMMAND_IDS))
def test_bound_to_gateway_and_command(
    new: bytes, current: bytes, sealed_for: tuple[str, str], opened_as: tuple[str, str]
) -> None:
    if sealed_for == opened_as:
        return
    sealed = seal_secret(new, current, *sealed_for)
    with pytest.raises(MalformedError):
        open_secret(sealed, current, *opened_as)


@given(SECRETS, SECRETS, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_flipped_byte_is_refused(new: bytes, current: bytes, where: int, bit: int) -> None:
    sealed = bytearray(seal_secret(new, current, "gw-1", "c1"))
    sealed[where % len(sealed)] ^= 1 << (bit % 8)
    with pytest.raises(MalformedError):
        open_secret(bytes(sealed), current, "gw-1", "c1")


@given(st.binary(max_size=80), SECRETS)
def test_garbage_is_refused_cleanly(data: bytes, current: bytes) -> None:
    with pytest.raises(MalformedError):
        open_secret(data, current, "gw-1", "c1")


def test_fresh_nonce_every_time() -> None:
    new, current = bytes(range(32)), bytes(range(32, 64))
    first, second = (seal_secret(new, current, "gw-1", "c1") for _ in range(2))
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        seal_secret(b"short", bytes(32), "gw-1", "c1")
    with pytest.raises(ValueError, match="nonce"):
        seal_secret(bytes(32), bytes(32), "gw-1", "c1", nonce=b"x")
