"""Errors of the alarm rules.

Layer: plain exception classes; no I/O::

    CloudError
    └── AlarmError                      alarm rules that cannot be used
        ├── RuleFileError               a rule file that does not load; one line per problem
        └── RuleRefusedError            rules naming what the platform does not know
                                        (also an InvalidValueError: 422 over HTTP)
"""

from __future__ import annotations

from collections.abc import Sequence

from cloud.alarms.rule_refs import RuleProblem, describe
from cloud.errors import CloudError, InvalidValueError


class AlarmError(CloudError):
    """Alarm rules that cannot be used."""


class RuleFileError(AlarmError):
    """A rule file that cannot be read or does not validate.

    ``problems`` holds one ``file:line: key: message`` line per problem.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class RuleRefusedError(InvalidValueError, AlarmError):
    """Rules that name a tenant, station, gateway or quantity the platform does not know.

    ``problems`` holds each one with the rule's index and key, for ``file:line`` errors.
    """

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        super().__init__("; ".join(describe(p) for p in problems))
        self.problems = tuple(problems)
