"""The TLS context of the MQTT uplink, from the ``mqtt.tls`` section of gateway.yaml.

Layer: builds an :class:`ssl.SSLContext` from files; no network I/O. Problems
with the files become :class:`~edge.errors.UplinkError` naming the file, never
its content.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from edge.config import TlsSection
from edge.errors import UplinkError

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def tls_context(tls: TlsSection, base: Path) -> ssl.SSLContext:
    """A client context: the broker verified against ``ca_file``, at least ``min_version``.

    Raises:
        UplinkError: a file is missing or unusable.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.check_hostname = tls.check_hostname
    try:
        if tls.ca_file is not None:
            context.load_verify_locations(cafile=base / tls.ca_file)
        if tls.cert_file is not None and tls.key_file is not None:
            context.load_cert_chain(base / tls.cert_file, base / tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise UplinkError(f"mqtt.tls: cannot use the certificate files: {exc}") from exc
    return context
