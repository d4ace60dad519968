"""The one error family for bytes that cannot be accepted.

    WireError (ValueError)          anything wrong with bytes from the network
    ├── MalformedError              not a valid envelope or batch (syntax, types, ranges)
    ├── UnsignedError               a batch that carries no signature
    ├── BadSignatureError           a signature that does not match the body
    ├── Hj212Error                  not a valid HJ 212 packet (frame, field, data segment)
    │   └── Hj212CrcError           a well-formed packet whose CRC does not match
    └── CompactError                not a valid NB-IoT compact frame (version, length, field)

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


class Hj212Error(WireError):
    """Not a valid HJ 212 packet: framing, header field, data segment or encryption."""

    reason = "hj_malformed"  # dead-letter reasons are [a-z_]


class Hj212CrcError(Hj212Error):
    """An HJ 212 packet whose CRC does not match its data segment.

    Carries ``declared`` and ``computed`` (4 upper-case hex digits each).
    """

    reason = "hj_crc"

    def __init__(self, declared: str, computed: str) -> None:
        super().__init__(f"CRC mismatch: packet says {declared}, data segment gives {computed}")
        self.declared = declared
        self.computed = computed


class CompactError(WireError):
    """Not a valid NB-IoT compact frame: unknown version, truncated, or a bad field."""

    reason = "compact_malformed"
