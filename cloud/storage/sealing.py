"""Gateway secrets sealed at rest: AES-256-GCM under the operator's key.

Layer: storage internals, pure (no SQL, no I/O). The operator key comes from
``SHANSHUI_SECRET_KEY`` (32 bytes as 64 hex digits or as base64); a sealed secret
is ``nonce (12 bytes) || ciphertext || tag (16 bytes)`` with the gateway id as
associated data, so a sealed secret copied onto another gateway's row does not open.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.errors import ConfigError, StorageError

KEY_BYTES = 32
NONCE_BYTES = 12


class SecretKey:
    """The operator key that seals gateway secrets; never printed (``repr`` hides it)."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"SHANSHUI_SECRET_KEY must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "<SecretKey>"

    @classmethod
    def parse(cls, text: str) -> SecretKey:
        """A key from 64 hex digits or the base64 of 32 bytes.

        Raises:
            ConfigError: neither, or not 32 bytes (the message never echoes the value).
        """
        text = text.strip()
        raw: bytes | None = None
        if len(text) == 2 * KEY_BYTES:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = None
        if raw is None:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(
                    "SHANSHUI_SECRET_KEY must be 32 bytes as 64 hex digits or base64 "
                    '(generate one: python -c "import secrets; print(secrets.token_hex(32))")'
                ) from None
        return cls(raw)

    @staticmethod
    def generate_text() -> str:
        """A fresh key as 64 hex digits."""
        return secrets.token_hex(KEY_BYTES)

    def seal(self, gateway_id: str, secret: bytes) -> bytes:
        """Encrypt ``secret`` for ``gateway_id``'s row."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, gateway_id.encode())

    def open(self, gateway_id: str, sealed: bytes) -> bytes:
        """Decrypt a sealed secret of ``gateway_id``.

        Raises:
            StorageError: it was sealed under another key, or for another gateway.
        """
        try:
            return self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], gateway_id.encode()
            )
        except (InvalidTag, ValueError):
            raise StorageError(
                f"the secret of gateway {gateway_id!r} does not open with SHANSHUI_SECRET_KEY "
                "(sealed under another key?)"
            ) from None
