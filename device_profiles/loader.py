"""Find and load the vocabulary and the sensor-model profiles shipped with Shanshui.

Layer: reads YAML files from disk, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from device_profiles.errors import ProfileError
from device_profiles.measure import to_canonical_map
from device_profiles.schema import Profile, Quantity
from device_profiles.units import UnitError, dimension
from device_profiles.yaml_source import Where, YamlSourceError, describe_errors, read_yaml

PACKAGE_DIR = Path(__file__).parent
QUANTITIES_PATH = PACKAGE_DIR / "quantities.yaml"
MODELS_DIR = PACKAGE_DIR / "models"


class _Vocabulary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quantities: dict[str, Quantity]

    @model_validator(mode="before")
    @classmethod
    def _inject_codes(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("quantities"), dict):
            data = dict(data)
            data["quantities"] = {
                code: {"code": code, **spec} if isinstance(spec, dict) else spec
                for code, spec in data["quantities"].items()
            }
        return data


@cache
def load_quantities(path: Path = QUANTITIES_PATH) -> dict[str, Quantity]:
    """The vocabulary of quantity codes, keyed by code."""
    try:
        data, node = read_yaml(path)
        quantities = dict(_Vocabulary.model_validate(data).quantities)
    except YamlSourceError as exc:
        raise ProfileError(str(exc)) from None
    except ValidationError as exc:
        raise ProfileError("\n".join(describe_errors(path, node, exc))) from None
    where = Where(path, node)
    problems = []
    for code, quantity in quantities.items():
        try:
            dimension(quantity.unit)
        except UnitError as exc:
            problems.append(where.format(("quantities", code, "unit"), str(exc)))
    if problems:
        raise ProfileError("\n".join(problems))
    return quantities


def load_profile(path: Path, quantities: dict[str, Quantity] | None = None) -> Profile:
    """Load one profile file and check it against the vocabulary.

    Raises:
        ProfileError: one line per problem, ``file:line: key: message``.
    """
    vocabulary = load_quantities() if quantities is None else quantities
    try:
        data, node = read_yaml(path)
        profile = Profile.model_validate(data)
    except YamlSourceError as exc:
        raise ProfileError(str(exc)) from None
    except ValidationError as exc:
        raise ProfileError("\n".join(describe_errors(path, node, exc))) from None
    problems = cross_check(profile, vocabulary, Where(path, node))
    if profile.model != path.stem.replace("_", "-"):
        problems.append(Where(path, node).format(("model",), "must match the file name"))
    if problems:
        raise ProfileError("\n".join(problems))
    return profile


def cross_check(profile: Profile, vocabulary: Mapping[str, Quantity], where: Where) -> list[str]:
    """What the schema alone cannot see: unknown quantities, units that do not convert."""
    problems: list[str] = []
    section: tuple[str | int, ...] = ("ascii", "fields") if profile.ascii else ("points",)
    seen: dict[str, str] = {}
    for index, item in enumerate(profile.measurements):
        loc = (*section, index)
        if item.quantity in seen:
            # one series per (device, quantity): a second point would overwrite the first
            message = f"quantity {item.quantity!r} is already measured by {seen[item.quantity]!r}"
            problems.append(where.format((*loc, "quantity"), message))
        seen.setdefault(item.quantity, item.name)
        quantity = vocabulary.get(item.quantity)
        if quantity is None:
            message = f"unknown quantity {item.quantity!r} (see quantities.yaml)"
            problems.append(where.format((*loc, "quantity"), message))
            continue
        try:
            to_canonical_map(item, quantity)
        except UnitError as exc:
            problems.append(where.format((*loc, "unit"), str(exc)))
    return problems


def check_files(paths: Iterable[Path]) -> list[str]:
    """Every problem of every profile file, one ``file:line: key: message`` line each."""
    problems: list[str] = []
    try:
        vocabulary = load_quantities()
    except ProfileError as exc:
        return str(exc).splitlines()
    for path in paths:
        try:
            load_profile(path, vocabulary)
        except ProfileError as exc:
            problems.extend(str(exc).splitlines())
    return problems


def library_files() -> list[Path]:
    """The profile files shipped with Shanshui, sorted."""
    return sorted(MODELS_DIR.glob("*.yaml"))


def profile_names() -> list[str]:
    """Names of the built-in profiles (the model codes)."""
    return sorted(p.stem.replace("_", "-") for p in MODELS_DIR.glob("*.yaml"))


@cache
def builtin_profile(model: str) -> Profile:
    """The built-in profile for ``model`` (e.g. ``jxct-th-rs485``).

    Raises:
        ProfileError: there is no such model.
    """
    path = MODELS_DIR / f"{model.replace('-', '_')}.yaml"
    if not path.is_file():
        known = ", ".join(profile_names())
        raise ProfileError(f"no device profile {model!r}; known models: {known}")
    return load_profile(path)
