"""Suite-wide fixtures: real servers, started once per run (see fix_db, fix_broker)."""

import hashlib
import os
import tempfile
from pathlib import Path

# Each checkout gets its own pytest temp root. pytest resets ``/tmp/pytest-of-<user>``
# to mode 0700 at every start and prunes old run directories, so two suites run at
# once from different checkouts (as root) would take away the traverse permission the
# embedded PostgreSQL's system user needs, or delete each other's data directories.
_checkout = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:6]
_temproot = Path(tempfile.gettempdir()) / f"ss-{_checkout}"
_temproot.mkdir(mode=0o755, exist_ok=True)
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(_temproot))

pytest_plugins = ["tests.fix_db", "tests.fix_broker"]

# The suite's databases are throwaway: storages built in tests without an operator
# key may write gateway secrets in plaintext (production code never may; see
# cloud.storage.secret_custody and tests/cloud/storage/test_identity.py, which checks the
# refusal with this default switched off).
import cloud.storage.secret_custody  # noqa: E402 - after the temp root is set

cloud.storage.secret_custody.PLAINTEXT_SECRETS_BY_DEFAULT = True
