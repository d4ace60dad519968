"""Reading what gateway.yaml points at, and explaining what is wrong with it.

Layer: reads the secret and password files; formats validation errors as
``gateway.yaml:14: buses[0].devices[1].slave: message`` with the helpers of
``device_profiles.yaml_source``. No network. Secret values never enter a
message: errors name the file, never its content.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pydantic import SecretBytes, SecretStr

from device_profiles.yaml_source import Where
from edge.errors import ConfigError
from wire.signing import MIN_SECRET_BYTES


class TlsFiles(Protocol):
    """The file names of ``mqtt.tls`` (:class:`edge.config.TlsSection`)."""

    @property
    def ca_file(self) -> Path | None: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...


SECRET_ENV = "SHANSHUI_GATEWAY_SECRET"  # noqa: S105 - the variable's name, not a secret


def load_secret(
    secret_file: Path | None, base: Path, env: Mapping[str, str], where: Where
) -> SecretBytes:
    """The gateway secret: hex from ``SHANSHUI_GATEWAY_SECRET``, else from ``secret_file``.

    Raises:
        ConfigError: missing, unreadable, not hex, or shorter than 16 bytes.
    """
    loc = ("gateway", "secret_file")
    if env.get(SECRET_ENV):
        return _parse_secret(env[SECRET_ENV], f"environment variable {SECRET_ENV}")
    if secret_file is None:
        raise ConfigError(where.format(loc, f"missing, and {SECRET_ENV} is not set"))
    secret_path = base / secret_file
    try:
        text = secret_path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not hex text"
        raise ConfigError(where.format(loc, f"cannot read {secret_path}: {reason}")) from None
    try:
        return _parse_secret(text, str(secret_path))
    except ConfigError as exc:
        raise ConfigError(where.format(loc, str(exc))) from None


def _parse_secret(text: str, origin: str) -> SecretBytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{origin} must hold the secret as hex digits") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{origin} holds {len(secret)} bytes; the secret needs at least "
            f"{MIN_SECRET_BYTES} bytes ({2 * MIN_SECRET_BYTES} hex digits)"
        )
    return SecretBytes(secret)


def load_password(password_file: Path | None, base: Path, where: Where) -> SecretStr | None:
    """The broker password from ``password_file`` (trailing newline dropped), if any.

    Raises:
        ConfigError: the file cannot be read.
    """
    if password_file is None:
        return None
    password_path = base / password_file
    try:
        text = password_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        loc = ("mqtt", "password_file")
        raise ConfigError(where.format(loc, f"cannot read {password_path}: {reason}")) from None
    return SecretStr(text.rstrip("\r\n"))


def check_tls_files(tls: TlsFiles | None, base: Path, where: Where) -> None:
    """Refuse ``mqtt.tls`` files that cannot be read, naming the key (never the content).

    The agent would otherwise start, fail at its first connection and retry forever.

    Raises:
        ConfigError: one line per unreadable file.
    """
    if tls is None:
        return
    problems = []
    for key in ("ca_file", "cert_file", "key_file"):
        name = getattr(tls, key)
        if name is None:
            continue
        try:
            (base / name).read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problems.append(
                where.format(("mqtt", "tls", key), f"cannot read {base / name}: {reason}")
            )
    if problems:
        raise ConfigError("\n".join(problems))
