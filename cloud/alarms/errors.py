"""Errors of the alarm rules.

Layer: plain exception classes; no I/O::

    CloudError
    └── AlarmError                      alarm rules that cannot be used
        └── RuleFileError               a rule file that does not load; one line per problem
"""

from __future__ import annotations

from collections.abc import Sequence

from cloud.errors import CloudError


class AlarmError(CloudError):
    """Alarm rules that cannot be used."""


class RuleFileError(AlarmError):
    """A rule file that cannot be read or does not validate.

    ``problems`` holds one ``file:line: key: message`` line per problem.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)
