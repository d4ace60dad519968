"""Rule files: YAML in, validated :class:`RuleSet` out, and back to YAML for export.

Layer: reads the one file it is given; otherwise pure. Mistakes come back as
``rules.yaml:12: rules[2].clear: must not be above 'above' (3.0)``, one line
each, through the same formatter as every other YAML file of Shanshui.

A file is a mapping with a ``rules:`` list::

    rules:
      - id: pond-3-do-low
        tenant: fisheries
        kind: threshold
        scope: {sites: [pond-3], quantities: [dissolved_oxygen]}
        below: 3.0
        clear: 3.5
        for_s: 600
        severity: critical
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cloud.alarms.errors import RuleFileError, RuleRefusedError
from cloud.alarms.rules import KINDS, RuleSet
from device_profiles.yaml_source import Where, YamlSourceError, describe_errors, read_yaml


def load_rules(path: Path) -> RuleSet:
    """The rules of one file.

    Raises:
        RuleFileError: unreadable, invalid YAML, or rules that do not validate.
    """
    try:
        data, node = read_yaml(path)
    except YamlSourceError as exc:
        raise RuleFileError(exc.problems) from None
    if data is None:
        return RuleSet()
    unknown = list(_unknown_kinds(path, node, data))
    if unknown:
        raise RuleFileError(unknown)
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(path, node, exc, union_tags=KINDS)
        # lists are tuples in the (frozen) models; the file writes them as lists
        raise RuleFileError([p.replace("a valid tuple", "a list") for p in problems]) from None


def dump_rules(rules: RuleSet) -> str:
    """YAML that :func:`load_rules` reads back as the same rules (defaults left out)."""
    data = rules.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("rules", [])  # an empty set reads as one, not as `{}`
    data["rules"] = [_kind_first(rule) for rule in data["rules"]]
    return yaml.safe_dump(_whole(data), allow_unicode=True, sort_keys=False)


def _kind_first(rule: dict[str, Any]) -> dict[str, Any]:
    """id, tenant, name and kind first, as a rule is read."""
    first = [key for key in ("id", "tenant", "name", "kind") if key in rule]
    return {key: rule[key] for key in first} | {k: v for k, v in rule.items() if k not in first}


def _whole(data: Any) -> Any:
    """``600`` rather than ``600.0`` for whole numbers, as people write them."""
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, dict):
        return {key: _whole(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_whole(value) for value in data]
    return data


def locate_refusal(path: Path, refused: RuleRefusedError) -> list[str]:
    """The platform's refusal of a file's rules as ``file:line: rules[i].key: message`` lines."""
    try:
        _, node = read_yaml(path)
    except YamlSourceError:
        node = None  # changed since it was loaded: name the keys without lines
    where = Where(path, node)
    return [where.format(("rules", p.index, *p.loc), p.message) for p in refused.problems]


def _unknown_kinds(path: Path, node: yaml.Node | None, data: Any) -> Iterator[str]:
    """The discriminator named where it is written (the shared formatter says ``type``)."""
    rules = data.get("rules") if isinstance(data, dict) else None
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and rule.get("kind") not in KINDS:
            message = f"must be one of {', '.join(KINDS)}"
            yield Where(path, node).format(("rules", index, "kind"), message)
