"""Apply the numbered SQL files of ``cloud/migrations`` to a database, in order, once each.

Layer: orchestration. Decides which files to apply and checks the history; the
SQL that records and locks lives in :mod:`cloud.storage.admin`, the schema in
the ``.sql`` files. No SQL here.

Rules:

* files are named ``NNNN_name.sql`` (four digits, lowercase name) and applied by
  number, each in its own transaction together with its ``schema_migrations`` row;
* a file already applied is never applied again, and if its bytes changed since
  (sha256 checksum) the run is refused: write a new migration instead;
* a database that records a migration this code does not have is refused too
  (it was migrated by a newer version);
* concurrent migrators are serialised by an advisory lock.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from cloud.errors import ChecksumMismatchError, MigrationError
from cloud.storage.admin import migration_ledger

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One ``NNNN_name.sql`` file and the checksum of its bytes."""

    version: int
    name: str
    script: bytes

    @property
    def checksum(self) -> str:
        """sha256 of the file's bytes, hex."""
        return hashlib.sha256(self.script).hexdigest()


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[MigrationFile]:
    """The migration files of ``directory`` by version.

    Raises:
        MigrationError: a ``.sql`` file is misnamed, or two share a version.
    """
    files: dict[int, MigrationFile] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_name.sql")
        version = int(match.group(1))
        if version == 0 or version in files:
            raise MigrationError(f"{path.name}: version {version} is zero or used twice")
        files[version] = MigrationFile(version, path.name, path.read_bytes())
    return [files[v] for v in sorted(files)]


def migrate(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Bring the database up to date; return the names of the files applied now.

    Running it again applies nothing and returns ``[]``.

    Raises:
        ChecksumMismatchError: an applied file was edited afterwards.
        MigrationError: a file failed (its transaction is rolled back, later files
            are not tried), or the database is ahead of this code.
        StorageUnavailableError: the database cannot be reached.
    """
    files = migration_files(directory)
    done: list[str] = []
    with migration_ledger(conninfo) as ledger:
        applied = {m.version: m for m in ledger.applied()}
        known = {f.version for f in files}
        ahead = sorted(set(applied) - known)
        if ahead:
            names = ", ".join(applied[v].name for v in ahead)
            raise MigrationError(f"the database has migrations this version lacks: {names}")
        for file in files:
            recorded = applied.get(file.version)
            if recorded is not None and recorded.checksum != file.checksum:
                raise ChecksumMismatchError(file.name, recorded.checksum, file.checksum)
        for file in files:
            if file.version in applied:
                continue
            log.info("applying migration %s", file.name)
            ledger.apply(file.version, file.name, file.checksum, file.script)
            done.append(file.name)
    return done
