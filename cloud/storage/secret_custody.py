"""``SecretCustody``: how secrets kept next to gateways are sealed at rest and opened.

Layer: storage. With an operator key (:class:`cloud.storage.sealing.SecretKey`) every
secret is written sealed, the label (the gateway id) as associated data; without one,
writing is refused unless plaintext is allowed (throwaway databases only). The
registry (:mod:`cloud.storage.registry`) and the HJ 212 credentials use it.
"""

from __future__ import annotations

from cloud.errors import ConfigError, StorageError
from cloud.storage.pool import PooledStorage
from cloud.storage.sealing import SecretKey

#: May a keyless storage write plaintext secrets when not told? (tests/conftest.py: yes)
PLAINTEXT_SECRETS_BY_DEFAULT = False


class SecretCustody(PooledStorage):
    """The operator key of a storage, and secrets sealed and opened with it."""

    _secret_key: SecretKey | None = None
    _plaintext_secrets: bool | None = None

    def use_secret_key(
        self, key: SecretKey | None, *, plaintext_secrets: bool | None = None
    ) -> None:
        """Seal secrets written from now on under ``key`` and open sealed ones with it;
        without a key, ``plaintext_secrets`` (default :data:`PLAINTEXT_SECRETS_BY_DEFAULT`)
        says whether to write them in plaintext or refuse."""
        self._secret_key = key
        self._plaintext_secrets = plaintext_secrets

    @property
    def seals_secrets(self) -> bool:
        """Whether secrets written now are sealed (an operator key is set)."""
        return self._secret_key is not None

    def seal_secret(self, label: str, secret: bytes) -> bytes:
        """``secret`` as stored for ``label`` (sealed when a key is set; see :meth:`open_secret`).

        For the other secrets kept next to gateways' (HJ 212 passwords and keys);
        ``label`` is the associated data, so a value copied onto another row does not open.
        """
        return self._stored(label, secret)

    def open_secret(self, label: str, stored: bytes, sealed: bool) -> bytes:
        """A secret stored by :meth:`seal_secret`.

        Raises:
            StorageError: sealed, and no (or another) operator key.
        """
        return self._opened(label, stored, sealed)

    def _stored(self, gateway_id: str, secret: bytes) -> bytes:
        key = self._secret_key
        if key is not None:
            return key.seal(gateway_id, secret)
        allowed = self._plaintext_secrets
        if allowed if allowed is not None else PLAINTEXT_SECRETS_BY_DEFAULT:
            return secret
        raise ConfigError(
            "SHANSHUI_SECRET_KEY: this storage has no operator key, so it will not write a "
            "gateway secret in plaintext (give Storage(secret_key=...); throwaway databases: "
            "plaintext_secrets=True)"
        )

    def _opened(self, gateway_id: str, stored: bytes, sealed: bool) -> bytes:
        if not sealed:
            return stored
        if self._secret_key is None:
            raise StorageError(
                f"the secret of gateway {gateway_id!r} is sealed; set SHANSHUI_SECRET_KEY"
            )
        return self._secret_key.open(gateway_id, stored)
