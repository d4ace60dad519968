"""Edit one value of gateway.yaml in place, keeping its comments and layout.

Layer: pure text transformation (PyYAML's composer for the positions; no I/O).
A remote ``set-interval`` changes one device's ``interval_s``: re-dumping the
parsed document would drop every comment the technician wrote, so instead the
value's exact span (from the node's marks) is replaced, or a key is added next
to the device's ``id`` in the same style (block or flow).
"""

from __future__ import annotations

import yaml

from edge.errors import ConfigError


def set_device_interval(
    text: str, device: str, interval_s: float, name: str = "gateway.yaml"
) -> str:
    """``text`` (the file ``name``) with ``interval_s`` of device ``device`` set to ``interval_s``.

    Raises:
        ConfigError: not YAML, or no such device under ``buses[].devices[]``.
    """
    try:
        # the pure-Python loader: its marks count characters (libyaml's may count bytes)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name} is not valid YAML: {exc}") from None
    value = _number(interval_s)
    edits: list[tuple[int, int, str]] = []
    for entry in _devices(root):
        if _scalar(entry, "id") != device:
            continue
        edits.append(_interval_edit(text, entry, value))
    if not edits:
        raise ConfigError(f"no device {device!r} in {name}")
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _devices(root: yaml.Node | None) -> list[yaml.MappingNode]:
    found: list[yaml.MappingNode] = []
    for bus in _items(_value(root, "buses")):
        found.extend(d for d in _items(_value(bus, "devices")) if isinstance(d, yaml.MappingNode))
    return found


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next(
        (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None
    )


def _scalar(node: yaml.Node, key: str) -> str | None:
    value = _value(node, key)
    return value.value if isinstance(value, yaml.ScalarNode) else None


def _interval_edit(text: str, entry: yaml.MappingNode, value: str) -> tuple[int, int, str]:
    current = _value(entry, "interval_s")
    if current is not None:
        return current.start_mark.index, current.end_mark.index, value
    last_key, last_value = entry.value[-1]
    end = last_value.end_mark.index
    if entry.flow_style:
        return end, end, f", interval_s: {value}"
    indent = " " * last_key.start_mark.column
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    return line_end, line_end, f"\n{indent}interval_s: {value}"


def _number(interval_s: float) -> str:
    """A YAML number PyYAML reads back as the same value (``1e+06`` would be a string)."""
    if float(interval_s).is_integer() and abs(interval_s) < 1e15:
        return str(int(interval_s))
    text = repr(float(interval_s))
    return text if "e" not in text else f"{interval_s:.17f}".rstrip("0")
