"""to_readings: value -> reading, range flags, and points that yield no reading (pure)."""

from __future__ import annotations

from device_profiles import Calibration, InvalidRawError, RegisterError, builtin_profile
from edge.polling.device_read import to_readings
from wire import Quality, Reading

JXCT = builtin_profile("jxct-th-rs485")
T0 = 1_700_000_000_000


def test_values_become_readings_of_their_quantities() -> None:
    conversion = to_readings("th1", JXCT, {"humidity": 55.5, "temperature": -10.1}, T0)
    assert conversion.readings == (
        Reading("th1", "relative_humidity", T0, 55.5),
        Reading("th1", "air_temperature", T0, -10.1),
    )
    assert conversion.problems == ()


def test_values_outside_the_vocabulary_range_are_flagged_over_range() -> None:
    conversion = to_readings("th1", JXCT, {"humidity": 100.1, "temperature": 80.0}, T0)
    assert [r.quality for r in conversion.readings] == [Quality.OVER_RANGE, Quality.NORMAL]


def test_invalid_raw_and_undecodable_points_give_problems_not_readings() -> None:
    temperature = JXCT.point("temperature")
    values: dict[str, float | RegisterError] = {
        "humidity": InvalidRawError(JXCT.point("humidity"), 0xFFFF),
        "temperature": RegisterError(f"point {temperature.name!r}: register value 70000"),
    }
    conversion = to_readings("th1", JXCT, values, T0)
    assert conversion.readings == ()
    assert conversion.problems == (
        "humidity: probe reports no valid measurement (0xffff)",
        "temperature: point 'temperature': register value 70000",
    )


def test_a_sentinel_with_a_meaning_is_a_reading_flagged_fault() -> None:
    values: dict[str, float | RegisterError] = {
        "humidity": InvalidRawError(JXCT.point("humidity"), 0xFFFF, 6553.5),
        "temperature": 20.0,
    }
    conversion = to_readings("th1", JXCT, values, T0)
    assert [(r.quantity, r.value, r.quality) for r in conversion.readings] == [
        ("relative_humidity", 6553.5, Quality.FAULT),
        ("air_temperature", 20.0, Quality.NORMAL),
    ]
    assert conversion.problems == ("humidity: probe reports no valid measurement (0xffff)",)


def test_calibration_applies_to_the_canonical_value() -> None:
    conversion = to_readings(
        "th1",
        JXCT,
        {"humidity": 50.0, "temperature": 20.0},
        T0,
        calibration=Calibration(factor=1.1, offset=-0.5),
    )
    assert [r.value for r in conversion.readings] == [54.5, 21.5]


def test_non_finite_values_are_problems() -> None:
    conversion = to_readings("th1", JXCT, {"humidity": float("nan"), "temperature": 20.0}, T0)
    assert [r.quantity for r in conversion.readings] == ["air_temperature"]
    assert conversion.problems == ("humidity: value nan is not a finite number",)


def test_a_clock_before_2000_gives_problems_not_an_exception() -> None:
    """A gateway without a real-time clock boots in 1970 until NTP sets it.

    wire refuses such times; the device must show degraded, not kill its bus task.
    """
    conversion = to_readings("th1", JXCT, {"humidity": 55.5, "temperature": 20.0}, 12_000)
    assert conversion.readings == ()
    assert conversion.problems == (
        "humidity: not sent: time_ms 12000 outside years 2000-2100",
        "temperature: not sent: time_ms 12000 outside years 2000-2100",
    )
