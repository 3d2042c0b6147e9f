"""Redaction of JSON-like data (what ``json.loads`` returns): dicts, lists, strings, numbers.

Structure decides first: a Secret's ``data`` / ``stringData`` values (``kind: Secret``, or
no ``kind`` and a Secret ``type``; ``stringData`` anywhere), the ``value`` of a
``name``/``value`` object whose name is secret (env vars, headers), and scalar values under
secret keys (``names.secret_name``) become ``[REDACTED]``. Every other string, keys
included, goes through the text redactor the caller passes in, so a log line, a URL or a
JSON document held in a string is redacted like text; a number is replaced when its digits
hold a known value. Booleans and ``None`` are kept; other objects (bytes, models) are
returned as they are. The input is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from infraagent.redaction.names import placeholder, secret_name, secret_type
from infraagent.redaction.spans import REDACTED

TextRedactor = Callable[[str], str]
_ROLES: Final = ("data", "stringData")


def redact_value(value: Any, text: TextRedactor) -> Any:
    """A redacted copy of ``value``."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, Mapping):
        return _redact_mapping(value, text)
    if isinstance(value, list):
        return [redact_value(item, text) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_value(item, text) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        spelled = str(value)  # a numeric credential (a PIN) is still a known value
        return value if text(spelled) == spelled else REDACTED
    return value


def _is_secret(mapping: Mapping[Any, Any]) -> bool:
    kind = mapping.get("kind")
    return kind == "Secret" or (kind is None and secret_type(mapping.get("type")))


def _redact_mapping(mapping: Mapping[Any, Any], text: TextRedactor) -> dict[Any, Any]:
    secret = _is_secret(mapping)
    name = mapping.get("name")
    env_value = (
        isinstance(name, str) and isinstance(mapping.get("value"), str) and secret_name(name)
    )
    result: dict[Any, Any] = {}
    for key, value in mapping.items():
        if key in _ROLES and (secret or key == "stringData"):
            result[key] = _every_value(value)
        elif (key == "value" and env_value) or (
            isinstance(key, str) and _secret_scalar(key, value)
        ):
            result[text(key)] = REDACTED
        else:
            result[text(key) if isinstance(key, str) else key] = redact_value(value, text)
    return result


def _secret_scalar(key: str, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    if isinstance(value, str) and placeholder(value):
        return False
    return secret_name(key)


def _every_value(value: Any) -> Any:
    """A Secret's data: keys kept, every value replaced."""
    if isinstance(value, Mapping):
        return {key: REDACTED for key in value}
    return value if value is None else REDACTED
