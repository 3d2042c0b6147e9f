"""Plain sentences for validation errors, and field paths as people write them.

``error_message`` rephrases a pydantic error ("missing required field 'schedule'",
"unknown field 'scheduel'; did you mean 'schedule'?", "expected an integer, got 'lots'");
messages written by our own validators are kept as they are, without pydantic's
"Value error, " prefix. ``render_path`` writes ``spec.skills[1].name``.

It deliberately does no I/O and knows nothing about positions or files.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from infraagent.loading.yamlpos import Path

_PLAIN_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def render_path(path: Path) -> str:
    """``('spec', 'skills', 1, 'name')`` → ``spec.skills[1].name``.

    Map keys are dotted; a key that contains anything but letters, digits, '-' and '_' is
    quoted in brackets (``metadata.labels["app.kubernetes.io/name"]``).
    """
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += '["' + str(part).replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return text


_DESCRIBED: Final[tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...]] = (
    (type(None), lambda _: "nothing (null)"),
    (bool, lambda v: "true" if v else "false"),
    (dict, lambda _: "a mapping"),
    ((list, tuple), lambda _: "a list"),
    (str, lambda v: repr(v if len(v) <= 60 else v[:57] + "...")),
    ((datetime, date), lambda v: f"the date {v.isoformat()}"),
)


def describe_value(value: object) -> str:
    """How a value reads in a sentence: 'lots', 5, true, a list, a mapping, nothing (null)."""
    for types_, describe in _DESCRIBED:
        if isinstance(value, types_):
            return describe(value)
    return str(value)


def _field_name(path: Path) -> str:
    return str(path[-1]) if path else "document"


_Rephrase = Callable[[ErrorDetails, str], str]

_TYPES: Final[dict[str, str]] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list",
    "datetime_type": "a date-time such as 2026-01-31T08:00:00Z",
    "datetime_parsing": "a date-time such as 2026-01-31T08:00:00Z",
    "datetime_from_date_parsing": "a date-time such as 2026-01-31T08:00:00Z",
}


def _choices(expected: str) -> str:
    return expected.replace(" or ", ", ")


def _expected_kind(error: ErrorDetails, got: str) -> str:
    return f"expected {_TYPES[error['type']]}, got {got}"


def _too_short(error: ErrorDetails, got: str) -> str:
    ctx = error.get("ctx") or {}
    minimum = ctx.get("min_length", 1)
    items = "item" if minimum == 1 else "items"
    return f"needs at least {minimum} {items}, got {ctx.get('actual_length', 0)}"


def _too_long(error: ErrorDetails, got: str) -> str:
    ctx = error.get("ctx") or {}
    return f"allows at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"


def _string_too_short(error: ErrorDetails, got: str) -> str:
    minimum = (error.get("ctx") or {}).get("min_length", 1)
    return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters long"


def _string_too_long(error: ErrorDetails, got: str) -> str:
    return f"must be at most {(error.get('ctx') or {}).get('max_length')} characters long"


def _pattern(error: ErrorDetails, got: str) -> str:
    return f"{got} does not match the pattern {(error.get('ctx') or {}).get('pattern')}"


def _bound(word: str, key: str) -> _Rephrase:
    def rephrase(error: ErrorDetails, got: str) -> str:
        return f"must be {word} {(error.get('ctx') or {}).get(key)}, got {got}"

    return rephrase


def _enum(error: ErrorDetails, got: str) -> str:
    expected = (error.get("ctx") or {}).get("expected", "")
    return f"expected one of {_choices(expected)}, got {got}"


def _literal(error: ErrorDetails, got: str) -> str:
    expected = (error.get("ctx") or {}).get("expected", "")
    return f"expected {_choices(expected)}, got {got}"


_REPHRASE: Final[dict[str, _Rephrase]] = {
    **dict.fromkeys(_TYPES, _expected_kind),
    "too_short": _too_short,
    "too_long": _too_long,
    "string_too_short": _string_too_short,
    "string_too_long": _string_too_long,
    "string_pattern_mismatch": _pattern,
    "greater_than_equal": _bound("at least", "ge"),
    "greater_than": _bound("more than", "gt"),
    "less_than_equal": _bound("at most", "le"),
    "less_than": _bound("less than", "lt"),
    "enum": _enum,
    "literal_error": _literal,
}


def error_message(error: ErrorDetails, path: Path, root: type[BaseModel] | None) -> str:
    """A plain sentence for one pydantic error at ``path`` of a document of model ``root``."""
    kind = error["type"]
    cause = (error.get("ctx") or {}).get("error")
    if kind in ("value_error", "assertion_error") and isinstance(cause, Exception):
        return str(cause)
    if kind == "missing":
        return f"missing required field {_field_name(path)!r}"
    if kind == "extra_forbidden":
        return _unknown_field(path, root)
    rephrase = _REPHRASE.get(kind)
    if rephrase is None:
        return str(error["msg"]).removeprefix("Value error, ")
    return rephrase(error, describe_value(error.get("input")))


def _unknown_field(path: Path, root: type[BaseModel] | None) -> str:
    name = _field_name(path)
    message = f"unknown field {name!r}"
    model = model_at(root, path[:-1]) if root is not None else None
    if model is None:
        return message
    close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; expected one of {', '.join(model.model_fields)}"


def model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path``, if there is one."""
    current: Any = root
    for part in path:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap(current, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _strip(annotation: Any) -> Any:
    """``Annotated[X, ...]`` → X and ``X | None`` → X; None for a union of several types."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _strip(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _strip(members[0]) if len(members) == 1 else None
    return annotation


def _unwrap(annotation: Any, part: str | int | None) -> Any:
    """Step from ``annotation`` into ``part`` (a field, an index or a key); None to unwrap."""
    annotation = _strip(annotation)
    origin = get_origin(annotation)
    if part is None or annotation is None:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    if origin is list and isinstance(part, int):
        return get_args(annotation)[0]
    if origin is dict and isinstance(part, str):
        return get_args(annotation)[1]
    return None
