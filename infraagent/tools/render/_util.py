"""Small, total accessors for API JSON: they never raise on a missing or mistyped field."""

from __future__ import annotations

from typing import Any


def as_map(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None as soon as a step is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def text(obj: Any, *keys: str, default: str = "") -> str:
    """The field as a string, ``default`` when it is missing, empty or null."""
    value = dig(obj, *keys)
    if value is None or value == "":
        return default
    return str(value)


def number(obj: Any, *keys: str) -> int:
    """The field as an int, 0 when it is missing or not a number."""
    value = dig(obj, *keys)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns aligned like kubectl's printer: left-aligned, two spaces between columns."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
