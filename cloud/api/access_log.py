"""Keep secrets out of the HTTP access log.

Layer: logging only. CTWing cannot sign its pushes, so its subscription URL carries
a secret token (``/api/v1/nbiot/ctwing/{token}``, see
:mod:`cloud.api.routes.nbiot_push`); uvicorn's access log would write that URL,
token included, to the journal. :class:`RedactSecretPaths` rewrites such paths
to ``…/ctwing/<redacted>`` before any handler sees the record.
"""

from __future__ import annotations

import logging
import re

__all__ = ["ACCESS_LOGGER", "RedactSecretPaths", "install", "redact_path"]

ACCESS_LOGGER = "uvicorn.access"

_SECRET_SEGMENT = re.compile(r"(/api/v1/nbiot/ctwing/)[^/?#\s]+")


def redact_path(path: str) -> str:
    """``path`` with the secret segments replaced by ``<redacted>``."""
    return _SECRET_SEGMENT.sub(r"\1<redacted>", path)


class RedactSecretPaths(logging.Filter):
    """Redact secret path segments in access-log records (uvicorn passes the path in args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


def install(logger_name: str = ACCESS_LOGGER) -> None:
    """Attach the filter to the access logger once (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactSecretPaths) for f in logger.filters):
        logger.addFilter(RedactSecretPaths())
