"""Load YAML and explain validation errors with the file, line and key at fault.

Layer: pure except for reading the file. Used for device profiles here and for
``gateway.yaml`` by the edge agent, so a technician sees
``gateway.yaml:14: buses[0].devices[1].slave: Input should be less than or equal to 247``
instead of a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class YamlSourceError(ValueError):
    """A YAML file that cannot be read or does not validate; ``str()`` is for people."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Return the parsed document and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlSourceError(path, [f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise YamlSourceError(path, [f"{path}: not UTF-8 text"]) from None
    try:
        node, data = _parse(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise YamlSourceError(path, [f"{path.name}{line}: invalid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(path, [f"{path.name}: invalid YAML: {exc}"]) from None
    duplicates = list(_duplicate_keys(node))
    if duplicates:
        # PyYAML keeps the last of two equal keys without a word: a second `buses:`
        # would silently drop the first bus's sensors. Refuse instead.
        raise YamlSourceError(path, [f"{path.name}:{line}: {msg}" for line, msg in duplicates])
    return data, node


# libyaml's parser when PyYAML was built with it (several times faster, same marks)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers) and the data built from it."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def _duplicate_keys(node: yaml.Node | None) -> Iterator[tuple[int, str]]:
    """(line, message) for every key that appears twice in one mapping."""
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in first_line:
                    yield (
                        line,
                        f"key {key.value!r} appears twice (first on line {first_line[key.value]})",
                    )
                else:
                    first_line[key.value] = line
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def validate_yaml(path: Path, model: type[M], context: dict[str, Any] | None = None) -> M:
    """Read ``path`` and validate it as ``model``; errors name line and key."""
    data, node = read_yaml(path)
    if data is None:
        raise YamlSourceError(path, [f"{path.name}: file is empty"])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise YamlSourceError(path, describe_errors(path, node, exc)) from None


class LocatedError(ValueError):
    """A cross-field check's error that names the key it is about (for the line number).

    Raise it from a model validator; ``loc`` is relative to that model.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class Where:
    """A file and its node tree: formats ``file:line: key: message``."""

    path: Path
    node: yaml.Node | None

    def format(self, loc: Sequence[str | int], message: str) -> str:
        """One problem line for the key at ``loc``."""
        line = line_of(self.node, loc)
        where = f"{self.path.name}:{line}" if line else self.path.name
        return f"{where}: {format_loc(loc) or '(top level)'}: {message}"


def describe_errors(
    path: Path, node: yaml.Node | None, exc: ValidationError, union_tags: Sequence[str] = ()
) -> list[str]:
    """One line per pydantic error: ``file:line: dotted.key: message``.

    ``union_tags`` are the tag values of discriminated unions in the model (such
    as bus types): pydantic puts them in error locations
    (``buses[0].modbus_tcp.port``) although they are not keys in the file.
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], union_tags)
        message = error["msg"].removeprefix("Value error, ")
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, LocatedError):
            loc = (*loc, *cause.loc)
            message = str(cause)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")
            expected = str(error.get("ctx", {}).get("expected_tags", ""))
            tags = [t.strip(" '") for t in expected.split(",") if t.strip(" '")] or union_tags
            message = f"must be one of {', '.join(tags)}"
        problems.append(Where(path, node).format(loc, message))
    return problems


def _clean_loc(loc: Sequence[str | int], union_tags: Sequence[str]) -> tuple[str | int, ...]:
    kept: list[str | int] = []
    for part in loc:
        if _is_pydantic_tag(part):
            continue
        if part in union_tags and kept:
            continue  # the tag of a discriminated union (in a list or a key), not a key in the file
        kept.append(part)
    return tuple(kept)


def format_loc(loc: Sequence[str | int]) -> str:
    """``('buses', 0, 'port')`` -> ``buses[0].port``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node along ``loc`` that exists in the file."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                # an unknown key is reported at the key itself
                return value if not isinstance(value, yaml.ScalarNode) or value.value else key
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def _is_pydantic_tag(part: str | int) -> bool:
    # discriminated unions and function validators add tags such as "function-after[...]"
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
