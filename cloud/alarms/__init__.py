"""Early warning: alarm rules and their evaluation on the live stream.

Layer: the modules exported here are pure (rules as data, a state machine over
readings); the one file read is a rule file given by path. Storage of states and
alarms and the API live elsewhere (``cloud/storage``, ``cloud/api``); the evaluator
process's service and notification are the asyncio modules listed last.

* :mod:`cloud.alarms.rules` - the rule kinds, validated (pydantic)
* :mod:`cloud.alarms.rule_files` - YAML import/export with ``file:line`` errors
* :mod:`cloud.alarms.rule_refs` - the stations, gateways, quantities a rule names
* :mod:`cloud.alarms.events` - readings, gateway statuses and transitions
* :mod:`cloud.alarms.conditions` - per kind: the level a reading shows
* :mod:`cloud.alarms.evaluator` - minimum durations, transitions, silence, late marks
* :mod:`cloud.alarms.contacts` - a contact's settings, validated
* :mod:`cloud.alarms.stepping` - one step: feed -> evaluator -> alarms, one transaction
* :mod:`cloud.alarms.worker` - the evaluator service: leadership, wake-ups, ticks
* :mod:`cloud.alarms.child` - the evaluator as a child process of serve and ingest
* :mod:`cloud.alarms.notify` - webhooks, e-mail, SMS; retries, quiet hours, escalation
"""

from cloud.alarms.errors import AlarmError, RuleFileError, RuleRefusedError
from cloud.alarms.evaluator import Evaluator
from cloud.alarms.events import GatewayStatus, Sample, Series, Transition
from cloud.alarms.rule_files import dump_rules, load_rules
from cloud.alarms.rules import Rule, RuleSet

__all__ = [
    "AlarmError",
    "Evaluator",
    "GatewayStatus",
    "Rule",
    "RuleFileError",
    "RuleRefusedError",
    "RuleSet",
    "Sample",
    "Series",
    "Transition",
    "dump_rules",
    "load_rules",
]
