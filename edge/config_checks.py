"""Warnings about a valid gateway.yaml that a technician should still fix.

Layer: reads file modes only (``stat``), never file contents; used by
``shanshui edge check-config``, which warns but does not refuse.
"""

from __future__ import annotations

import stat
from pathlib import Path

from edge.config import EdgeConfig


def config_warnings(config: EdgeConfig) -> list[str]:
    """One line per thing to fix: secrets readable by others, nothing to poll."""
    warnings: list[str] = []
    settings = config.settings
    base = config.source.parent if config.source is not None else Path()
    secret_files = [
        ("gateway.secret_file", settings.gateway.secret_file),
        ("mqtt.password_file", settings.mqtt.password_file),
    ]
    for key, name in secret_files:
        if name is not None:
            warnings.extend(_readable_by_others(key, base / name))
    if not any(bus.devices for bus in settings.buses):
        warnings.append("no devices configured: the gateway will poll nothing")
    return warnings


def _readable_by_others(key: str, path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except OSError:
        return []  # the loader already refused a missing file; an env secret needs none
    # group bits are how the service reads it (README: root:shanshui 0640); others' are not
    if mode & stat.S_IRWXO:
        return [
            f"{key}: {path.name} is readable by other users (mode {stat.S_IMODE(mode):04o}): "
            f"chmod o-rwx {path}"
        ]
    return []
