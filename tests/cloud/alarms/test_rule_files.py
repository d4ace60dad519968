"""Rule files: every kind loads, mistakes come back as file:line: key: message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.alarms import RuleFileError, RuleSet, dump_rules, load_rules
from tests.cloud.alarms.helpers import RULE

EXAMPLE = """\
rules:
  - id: pond-3-do-low
    tenant: fisheries
    kind: threshold
    scope: {sites: [pond-3], quantities: [dissolved_oxygen]}
    below: 3.0
    clear: 3.5
    for_s: 600
    severity: critical
  - {id: nh3-rise, tenant: agri, kind: rate, per_hour: 5, window_s: 1800}
  - {id: pm-episode, tenant: env, kind: aqi, level: 4}
  - {id: river-class, tenant: water, kind: water_class, worse_than: III}
  - {id: night-noise, tenant: env, kind: noise, zone: site, period: night}
  - id: slope-7
    tenant: land
    kind: geohazard
    rain_window_s: 86400
    levels:
      - {level: blue, rain_mm: 50, displacement_mm_per_day: 1}
      - {level: red, rain_mm: 150, displacement_mm_per_day: 10}
  - {id: silent, tenant: env, kind: absence, multiple: 3}
  - {id: offline, tenant: env, kind: absence, target: gateway, after_s: 900}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_kind_loads(tmp_path: Path) -> None:
    rules = load_rules(_write(tmp_path, EXAMPLE)).rules
    assert [r.kind for r in rules] == [
        "threshold", "rate", "aqi", "water_class", "noise", "geohazard", "absence", "absence",
    ]  # fmt: skip


def test_export_reads_back_as_the_same_rules(tmp_path: Path) -> None:
    rules = load_rules(_write(tmp_path, EXAMPLE))
    again = load_rules(_write(tmp_path, dump_rules(rules)))
    assert again == rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - id: a\n    tenant: t\n    kind: threshold\n    above: 3\n    clear: 4\n",
            "rules.yaml:6: rules[0].clear: must not be above 'above' (3.0)",
        ),
        (
            "rules:\n  - {id: a, tenant: t, kind: threshold, above: 3}\n"
            "  - {id: a, tenant: t, kind: aqi, level: 3}\n",
            "rules.yaml:3: rules[1].id: 'a' is already the id of rules[0]",
        ),
        (
            "rules:\n  - id: a\n    tenant: t\n    kind: teapot\n",
            "rules.yaml:4: rules[0].kind: must be one of threshold, rate, aqi",
        ),
        (
            "rules:\n  - id: a\n    tenant: t\n    kind: aqi\n    level: 9\n",
            "rules.yaml:5: rules[0].level: Input should be less than or equal to 6",
        ),
        (
            "rules:\n  - id: a\n    tenant: t\n    kind: water_class\n    worse_than: VII\n",
            "rules.yaml:5: rules[0].worse_than: class: 'VII' is not a water class",
        ),
        (
            "rules:\n  - id: a\n    tenant: t\n    kind: absence\n    colour: red\n",
            "rules.yaml:5: rules[0].colour: Extra inputs are not permitted",
        ),
        ("rules: [\n", "rules.yaml:2: invalid YAML"),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules(_write(tmp_path, text))
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_an_empty_file_has_no_rules(tmp_path: Path) -> None:
    assert load_rules(_write(tmp_path, "")) == RuleSet()


_thresholds = st.builds(
    dict,
    id=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    tenant=st.sampled_from(["env", "water"]),
    kind=st.just("threshold"),
    above=st.floats(-100, 100),
    for_s=st.integers(0, 3600),
    severity=st.sampled_from(["info", "warning", "critical"]),
)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.lists(_thresholds, max_size=5, unique_by=lambda r: r["id"]))
def test_dump_then_validate_is_the_identity(rules: list[dict[str, object]]) -> None:
    import yaml  # noqa: PLC0415 - only this property needs it

    ruleset = RuleSet(rules=tuple(RULE.validate_python(r) for r in rules))
    assert RuleSet.model_validate(yaml.safe_load(dump_rules(ruleset))) == ruleset


def test_no_rules_export_as_an_empty_list_that_reads_back(tmp_path: Path) -> None:
    text = dump_rules(RuleSet())
    assert text == "rules: []\n"
    assert load_rules(_write(tmp_path, text)) == RuleSet()


def test_export_writes_whole_numbers_as_people_do(tmp_path: Path) -> None:
    text = dump_rules(load_rules(_write(tmp_path, EXAMPLE)))
    assert "for_s: 600\n" in text
    assert text.startswith("rules:\n- id: pond-3-do-low\n  tenant: fisheries\n  kind: threshold\n")
    assert ".0\n" not in text.replace("3.5\n", "")
