"""The one error family for bytes that cannot be accepted.

    WireError (ValueError)          anything wrong with bytes from the network
    ├── MalformedError              not a valid envelope or batch (syntax, types, ranges)
    ├── UnsignedError               a batch that carries no signature
    └── BadSignatureError           a signature that does not match the body

Each error carries ``reason``, a short stable code that the cloud stores in its
dead-letter table, and a human message.
"""

from __future__ import annotations


class WireError(ValueError):
    """Bytes from the network that cannot be accepted."""

    reason = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedError(WireError):
    """Not a valid envelope or batch: bad JSON, wrong type, out-of-range field."""

    reason = "malformed"


class UnsignedError(WireError):
    """A batch without a signature."""

    reason = "unsigned"


class BadSignatureError(WireError):
    """A signature that does not verify against the gateway's secret."""

    reason = "bad_signature"
