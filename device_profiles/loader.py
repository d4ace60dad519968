"""Find and load the vocabulary and the sensor-model profiles shipped with Shanshui.

Layer: reads YAML files from disk, nothing else.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from device_profiles.errors import ProfileError
from device_profiles.schema import Profile, Quantity
from device_profiles.yaml_source import YamlSourceError, describe_errors, read_yaml

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
    data, node = read_yaml(path)
    try:
        return dict(_Vocabulary.model_validate(data).quantities)
    except ValidationError as exc:
        raise ProfileError("\n".join(describe_errors(path, node, exc))) from None


def load_profile(path: Path, quantities: dict[str, Quantity] | None = None) -> Profile:
    """Load one profile file and check its quantities against the vocabulary.

    Raises:
        ProfileError: naming the file, line, point and key at fault.
    """
    vocabulary = load_quantities() if quantities is None else quantities
    try:
        data, node = read_yaml(path)
        profile = Profile.model_validate(data)
    except YamlSourceError as exc:
        raise ProfileError(str(exc)) from None
    except ValidationError as exc:
        raise ProfileError("\n".join(describe_errors(path, node, exc))) from None
    for index, point in enumerate(profile.points):
        if point.quantity not in vocabulary:
            raise ProfileError(
                f"{path.name}: points[{index}] {point.name!r}: unknown quantity "
                f"{point.quantity!r} (see quantities.yaml)"
            )
    if profile.model != path.stem.replace("_", "-"):
        raise ProfileError(f"{path.name}: model {profile.model!r} must match the file name")
    return profile


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
