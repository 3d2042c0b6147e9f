"""Strict loading of the JSON/YAML text a kubectl call carries (patches and manifests).

Everything loaded here must be plain JSON data (objects with string keys, arrays, strings,
finite numbers, booleans, null) so that the guardrail engine, the ledger and the API server
all see the same thing. The loader is stricter than kubectl's on purpose:

- duplicate keys in one mapping are refused (which one wins differs between parsers);
- YAML timestamps stay strings (as they do when kubectl converts YAML to JSON);
- YAML tags that build other types (``!!binary``, ``!!set`` ...) are refused;
- the size, depth and node count are bounded, which also stops alias bombs and cycles.

It does not know what a Kubernetes object is; ``manifests`` checks that.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Final

import yaml

if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:  # libyaml's parser when PyYAML has it (several times faster), same semantics
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_TEXT_CHARS: Final = 1_048_576
MAX_NODES: Final = 200_000
MAX_DEPTH: Final = 64


class DocumentError(ValueError):
    """The text is not acceptable JSON/YAML; the message says why."""


class _StrictLoader(_Base):
    """A safe loader without timestamps and without duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise DocumentError(f"duplicate key {key_node.value!r}")
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in pairs:
        if key in result:
            raise DocumentError(f"duplicate key {key!r}")
        result[key] = item
    return result


def _no_constant(text: str) -> Any:
    raise DocumentError(f"{text} is not a JSON number")


def check_plain(data: Any) -> None:
    """Raise ``DocumentError`` unless ``data`` is bounded, acyclic plain JSON data."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            raise DocumentError("the document is too large or too deeply nested")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise DocumentError(f"key {key!r} is not a string")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise DocumentError("numbers must be finite")
        elif item is not None and not isinstance(item, str | int):
            raise DocumentError(f"value of type {type(item).__name__} is not plain JSON data")


def _problem(error: yaml.YAMLError) -> str:
    """A one-line description of a YAML error, with its position."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _bounded(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise DocumentError(f"the text is longer than {MAX_TEXT_CHARS} characters")


def load_one(text: str) -> Any:
    """One JSON or YAML document (JSON is tried first: it is a YAML subset, and faster)."""
    _bounded(text)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError:
        try:
            data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as error:
            raise DocumentError(f"not valid JSON or YAML: {_problem(error)}") from error
    check_plain(data)
    return data


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream (empty documents included, as None)."""
    _bounded(text)
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as error:
        raise DocumentError(f"not valid YAML: {_problem(error)}") from error
    check_plain(documents)
    return documents
