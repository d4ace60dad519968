"""Formats that cross the network, as pure functions over bytes.

Layer: sans-IO. Nothing here opens a socket, a file or a database, and nothing
here imports another Shanshui package: edge, cloud, simulators and firmware
stubs all import ``wire``, never the other way round.
"""

from wire.batch import (
    MAX_BATCH_BYTES,
    MAX_READINGS,
    Batch,
    Quality,
    Reading,
    check_gateway_id,
    decode_batch,
    encode_batch,
)
from wire.errors import (
    BadSignatureError,
    CompactError,
    Hj212CrcError,
    Hj212Error,
    MalformedError,
    UnsignedError,
    WireError,
)
from wire.signing import SignedBatch, open_envelope, sign_batch, verify_envelope

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_READINGS",
    "BadSignatureError",
    "Batch",
    "CompactError",
    "Hj212CrcError",
    "Hj212Error",
    "MalformedError",
    "Quality",
    "Reading",
    "SignedBatch",
    "UnsignedError",
    "WireError",
    "check_gateway_id",
    "decode_batch",
    "encode_batch",
    "open_envelope",
    "sign_batch",
    "verify_envelope",
]
