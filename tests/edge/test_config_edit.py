"""set-interval edits one value of gateway.yaml: comments and layout survive."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from edge.config_edit import set_device_interval
from edge.errors import ConfigError

BLOCK = """\
# Station 7, pump house (installed 2026-03-02 by Wang)
gateway:
  id: gw-07          # printed on the enclosure
  secret_file: gateway.secret
buses:
  - name: rs485-a    # the grey cable
    type: modbus_rtu
    port: /dev/ttyUSB0
    devices:
      - id: th1
        model: jxct-th-rs485
        slave: 1
        interval_s: 10   # fast while commissioning
      - id: soil
        model: jxct-th-rs485
        slave: 2
      - {id: flow, model: jxct-th-rs485, slave: 3, interval_s: 60.0}
      - {id: lux, model: jxct-th-rs485, slave: 4}
# end
"""


def devices(text: str) -> dict[str, float | None]:
    document = yaml.safe_load(text)
    return {d["id"]: d.get("interval_s") for bus in document["buses"] for d in bus["devices"]}


def test_an_existing_value_changes_and_nothing_else() -> None:
    edited = set_device_interval(BLOCK, "th1", 30)
    assert edited == BLOCK.replace("interval_s: 10   #", "interval_s: 30   #")
    assert devices(edited)["th1"] == 30


def test_a_missing_value_is_added_in_the_mapping_style() -> None:
    edited = set_device_interval(BLOCK, "soil", 2.5)
    assert "        slave: 2\n        interval_s: 2.5\n" in edited
    edited = set_device_interval(edited, "lux", 0.5)
    assert "{id: lux, model: jxct-th-rs485, slave: 4, interval_s: 0.5}" in edited
    edited = set_device_interval(edited, "flow", 120)
    assert devices(edited) == {"th1": 10, "soil": 2.5, "flow": 120, "lux": 0.5}
    for comment in ("# Station 7", "# printed on the enclosure", "# the grey cable", "# end"):
        assert comment in edited
    assert edited.count("\n") == BLOCK.count("\n") + 1


def test_unknown_device_and_broken_yaml_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"no device 'nope' in gateway\.yaml"):
        set_device_interval(BLOCK, "nope", 1)
    with pytest.raises(ConfigError, match="not valid YAML"):
        set_device_interval("a: [", "th1", 1, "x.yaml")


@given(st.floats(min_value=0.001, max_value=1e9, allow_nan=False))
def test_any_interval_reads_back_as_the_same_number(interval_s: float) -> None:
    for device in ("th1", "soil", "flow", "lux"):
        got = devices(set_device_interval(BLOCK, device, interval_s))[device]
        assert got == pytest.approx(interval_s, rel=1e-12)
