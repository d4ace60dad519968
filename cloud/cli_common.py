"""What every ``shanshui cloud`` command module shares: exit codes, error reporting.

Layer: command line. Turns :class:`cloud.errors.CloudError` into one line on
stderr and an exit code (2 for mistakes the operator can fix, 1 when a server
cannot be reached), and runs a coroutine against the configured database.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import typer

from cloud import services
from cloud.errors import (
    BrokerUnreachableError,
    CloudError,
    IngestError,
    NoAnswerError,
    StorageUnavailableError,
)
from cloud.settings import load_settings
from cloud.storage import Storage

P = ParamSpec("P")
R = TypeVar("R")

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 1


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn CloudError into a message on stderr and an exit code, without a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CloudError as exc:
            typer.echo(f"error: {exc}", err=True)
            unavailable = isinstance(
                exc, StorageUnavailableError | IngestError | BrokerUnreachableError | NoAnswerError
            )
            raise typer.Exit(EXIT_UNAVAILABLE if unavailable else EXIT_USAGE) from None

    return run


def actor() -> str:
    """Who runs this command, for the audit log: ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli:unknown"


def with_storage(work: Callable[[Storage], Awaitable[R]], *, sealing: bool = False) -> R:
    """Run ``work`` with a one-connection Storage on the configured (or embedded) database.

    ``sealing``: the work reads or writes gateway secrets, so it needs the operator
    key (:func:`cloud.services.secret_key`; refused without one).
    """
    settings = load_settings()
    key = services.secret_key(settings) if sealing else None

    async def run(conninfo: str) -> R:
        async with Storage(conninfo, max_size=1, secret_key=key) as storage:
            return await work(storage)

    with services.database(settings) as conninfo:
        return asyncio.run(run(conninfo))
