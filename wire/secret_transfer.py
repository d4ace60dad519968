"""A new gateway secret, encrypted for the gateway under the secret it has now.

Layer: pure functions over bytes (the ciphers are the ``cryptography``
package's); no I/O, never logs. Used by the cloud to build a ``rotate-secret``
command and by the gateway to open it.

The key is derived with HKDF-SHA256 from the CURRENT secret (no salt, info
:data:`CONTEXT`), so only the holder of that secret can read the new one, and
a key derived for this purpose is never the HMAC key itself. The new secret is
sealed with AES-256-GCM under a random 96-bit nonce; the gateway id and the
command id are bound in as associated data, so a sealed secret cannot be moved
to another gateway or another command. Carried as hex in the command's args::

    nonce (12 bytes) || ciphertext || tag (16 bytes)
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wire.errors import MalformedError
from wire.signing import MIN_SECRET_BYTES

CONTEXT = b"shanshui v1 rotate-secret"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


def _key(current: bytes) -> AESGCM:
    if len(current) < MIN_SECRET_BYTES:
        raise ValueError(f"gateway secret must be at least {MIN_SECRET_BYTES} bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=CONTEXT)
    return AESGCM(hkdf.derive(current))


def _associated(gateway_id: str, command_id: str) -> bytes:
    # length-prefixed, so ("ab", "c") and ("a", "bc") bind differently
    gw, cmd = gateway_id.encode(), command_id.encode()
    return len(gw).to_bytes(2, "big") + gw + len(cmd).to_bytes(2, "big") + cmd


def seal_secret(
    new: bytes, current: bytes, gateway_id: str, command_id: str, nonce: bytes | None = None
) -> bytes:
    """``new`` encrypted for the holder of ``current`` (nonce || ciphertext || tag).

    ``nonce`` is for tests only: by default a fresh random one.

    Raises:
        ValueError: a secret shorter than the minimum, or a nonce of the wrong size.
    """
    if len(new) < MIN_SECRET_BYTES:
        raise ValueError(f"gateway secret must be at least {MIN_SECRET_BYTES} bytes")
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"the nonce must be {NONCE_BYTES} bytes")
    return nonce + _key(current).encrypt(nonce, new, _associated(gateway_id, command_id))


def open_secret(sealed: bytes, current: bytes, gateway_id: str, command_id: str) -> bytes:
    """The new secret inside ``sealed``; see :func:`seal_secret`.

    Raises:
        MalformedError: too short, not sealed under ``current``, or for another
            gateway or command (the message never contains key material).
    """
    if len(sealed) < NONCE_BYTES + TAG_BYTES + MIN_SECRET_BYTES:
        raise MalformedError("sealed secret is too short")
    nonce, box = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        return _key(current).decrypt(nonce, box, _associated(gateway_id, command_id))
    except InvalidTag:
        raise MalformedError(
            "sealed secret does not open with this gateway's secret for this command"
        ) from None
