"""The profile library as a whole: coverage of the programme's domains, sources, ASCII models."""

from __future__ import annotations

import pytest

from device_profiles import builtin_profile, load_quantities, measure, profile_names
from device_profiles.ascii import decode_frame, format_line, parse_line
from device_profiles.loader import check_files, library_files
from device_profiles.measure import from_canonical
from simulators.signals import physical_value

ASCII_MODELS = [m for m in profile_names() if builtin_profile(m).protocol == "ascii"]

# what the programme needs measured (issue #5), by domain
DOMAINS = {
    "air": {"pm2_5", "pm10", "co2", "so2", "no2", "o3", "co", "tvoc"},
    "noise": {"noise_level"},
    "radiation": {"gamma_dose_rate"},
    "weather": {"wind_speed", "wind_direction", "rainfall", "illuminance", "air_pressure"},
    "soil": {"soil_moisture", "soil_temperature", "soil_conductivity", "soil_ph"},
    "soil nutrients": {"soil_nitrogen", "soil_phosphorus", "soil_potassium"},
    "water": {
        "dissolved_oxygen",
        "water_ph",
        "orp",
        "turbidity",
        "water_conductivity",
        "ammonia_nitrogen",
        "water_level",
    },
    "barn": {"nh3", "h2s"},
    "geological hazard": {"displacement", "tilt_x"},
}


def test_library_has_twenty_models_and_checks_clean() -> None:
    assert len(profile_names()) >= 20
    assert check_files(library_files()) == []


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_domain_is_covered(domain: str) -> None:
    measured = {m.quantity for name in profile_names() for m in builtin_profile(name).measurements}
    assert DOMAINS[domain] <= measured


def test_a_compact_weather_station_and_an_ascii_sensor_exist() -> None:
    weather = {"air_temperature", "relative_humidity", "air_pressure", "wind_speed"}
    assert any(
        weather <= {m.quantity for m in builtin_profile(name).measurements}
        for name in profile_names()
    )
    assert ASCII_MODELS


@pytest.mark.parametrize("model", profile_names())
def test_every_profile_names_its_source_and_says_when_it_is_unverified(model: str) -> None:
    profile = builtin_profile(model)
    assert profile.source.strip()
    assert profile.verified == ("UNVERIFIED" not in profile.source)


@pytest.mark.parametrize("model", ASCII_MODELS)
def test_ascii_sensor_lines_decode_to_what_was_written(model: str) -> None:
    """Serve a line as the sensor would, frame and parse it as the agent does."""
    profile = builtin_profile(model)
    assert profile.ascii is not None
    quantities = load_quantities()
    for hour in range(0, 24, 5):
        time_s = 1_764_460_800 + hour * 3600
        written = {}
        for field in profile.ascii.fields:
            quantity = quantities[field.quantity]
            canonical = physical_value(quantity, time_s, seed=3, key=field.name)
            own = from_canonical(field, quantity, canonical)
            if field.valid is not None:
                own = min(field.valid.max, max(field.valid.min, own))
            written[field.name] = own
        data = format_line(profile.ascii, written)
        consumed, line = decode_frame(profile.ascii, data)
        assert consumed == len(data)
        assert line is not None
        parsed = parse_line(profile.ascii, line)
        for field in profile.ascii.fields:
            text = field.format.format(written[field.name])
            measured = measure(field, quantities[field.quantity], parsed[field.name])
            assert measured.value == pytest.approx(float(text))
            assert measured.flag == "N"
