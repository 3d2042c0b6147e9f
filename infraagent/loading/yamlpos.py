"""YAML with positions: plain Python data plus the line and column of every key and value.

``parse_yaml`` composes a YAML stream with PyYAML (the C loader when it is available),
turns each document into plain data the way ``yaml.safe_load`` would, and records where
every mapping key, mapping value and sequence item starts, by field path. It reports YAML
syntax errors, duplicate keys (which PyYAML would silently collapse to the last one),
non-scalar keys, unknown tags and recursive aliases as ``YamlProblem`` records.
``ParsedDocument.locate_error`` turns a pydantic error into a field path and a position.

It deliberately knows nothing about files, diagnostics or our models (beyond the path a
``FieldPathError`` carries): callers attach a file name and phrase the messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from pydantic_core import ErrorDetails
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from infraagent.models import FieldPathError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The C loader when PyYAML was built with libyaml: composing is then about ten times faster."""

Path = tuple[str | int, ...]
"""A field path: mapping keys and sequence indexes from the document root."""

Mark = tuple[int, int]
"""A 1-based (line, column)."""

_STR_TAG: Final = "tag:yaml.org,2002:str"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_KEY_MARKER: Final = "[key]"


@dataclass(frozen=True)
class YamlProblem:
    """Something wrong with the YAML itself, at a position."""

    line: int
    column: int
    path: Path
    message: str
    code: str


@dataclass
class ParsedDocument:
    """One YAML document: its data and where each of its parts starts."""

    data: Any
    start: Mark
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    collections: set[Path] = field(default_factory=set)
    problems: list[YamlProblem] = field(default_factory=list)

    def value_mark(self, path: Path) -> Mark:
        """Where the value at ``path`` starts, or its nearest ancestor that exists."""
        for end in range(len(path), 0, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return self.start

    def key_mark(self, path: Path) -> Mark:
        """Where the key of ``path`` starts; the value for list items and the root."""
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            mark = self.keys.get(prefix) or self.values.get(prefix)
            if mark is not None:
                return mark
        return self.start

    def has(self, path: Path) -> bool:
        """Whether ``path`` exists in the document."""
        return path in self.values

    def locate_error(self, error: ErrorDetails) -> tuple[Path, Mark]:
        """The field path and position of a pydantic validation error.

        A missing field points at its parent mapping (its key, if it has one); an unknown
        field or an invalid mapping key points at the key; anything else points at the
        value, or at the key when the value is a mapping or a list, which is where a reader
        looks. A ``FieldPathError`` extends pydantic's location with its own path.
        """
        path: Path = tuple(error["loc"])
        context = error.get("ctx") or {}
        cause = context.get("error")
        if isinstance(cause, FieldPathError):
            path = path + tuple(cause.path)
        if path and path[-1] == _KEY_MARKER:
            path = path[:-1]
            return path, self.key_mark(path)
        if error["type"] == "missing":
            return path, self.key_mark(path[:-1])
        if error["type"] == "extra_forbidden" or path in self.collections:
            return path, self.key_mark(path)
        return path, self.value_mark(path)


class _Builder:
    """Builds plain data from composed nodes, recording positions as it goes."""

    def __init__(self, doc: ParsedDocument, line_offset: int) -> None:
        self._doc = doc
        self._offset = line_offset
        self._done: dict[int, Any] = {}
        self._active: set[int] = set()

    def mark(self, node: Node) -> Mark:
        return (node.start_mark.line + 1 + self._offset, node.start_mark.column + 1)

    def build(self, node: Node, path: Path) -> Any:
        self._doc.values[path] = self.mark(node)
        if isinstance(node, ScalarNode):
            value = self._scalar(node, path)
            return None if value is _UNUSABLE else value
        self._doc.collections.add(path)
        key = id(node)
        if key in self._done:
            return self._done[key]
        if key in self._active:
            self._problem(node, path, "this alias refers to itself (a recursive structure)")
            return None
        if not node.tag.startswith(_STANDARD_TAGS):
            self._problem(node, path, f"unknown tag {node.tag!r}")
        self._active.add(key)
        try:
            if isinstance(node, MappingNode):
                result: Any = self._mapping(node, path)
            else:
                result = [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._active.discard(key)
        self._done[key] = result
        return result

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        construct = _CONSTRUCTORS.get(node.tag, _UNDEFINED)
        try:
            return construct(_CONSTRUCTOR, node)
        except (ConstructorError, ValueError, TypeError) as error:
            self._problem(node, path, _constructor_message(error))
            return _UNUSABLE

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(value_node, path, merged)
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, path)
            if key is _UNUSABLE:
                continue
            mark = self.mark(key_node)
            if key in first_line:
                message = (
                    f"duplicate key {key!r} (first on line {first_line[key]}); "
                    "YAML would silently keep only the last one"
                )
                self._problem(key_node, (*path, key), message, code="duplicate-key")
            first_line.setdefault(key, mark[0])
            self._doc.keys[(*path, key)] = mark
            result[key] = self.build(value_node, (*path, key))
        return {**merged, **result} if merged else result

    def _key(self, node: Node, path: Path) -> Any:
        if not isinstance(node, ScalarNode):
            self._problem(node, path, "a mapping key must be a plain value, not a list or mapping")
            return _UNUSABLE
        return self._scalar(node, path)

    def _merge(self, node: Node, path: Path, into: dict[Any, Any]) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                self._problem(source, path, "a merge key '<<' needs a mapping or a list of them")
                continue
            for key_node, value_node in source.value:
                key = self._key(key_node, path)
                if key is not _UNUSABLE:
                    self._doc.keys[(*path, key)] = self.mark(key_node)
                    into[key] = self.build(value_node, (*path, key))

    def _problem(self, node: Node, path: Path, message: str, code: str = "yaml") -> None:
        line, column = self.mark(node)
        self._doc.problems.append(YamlProblem(line, column, path, message, code))


_UNUSABLE: Final = object()
_STANDARD_TAGS: Final = "tag:yaml.org,2002:"
_CONSTRUCTOR: Final = SafeConstructor()
_CONSTRUCTORS: Final[dict[Any, Any]] = dict(SafeConstructor.yaml_constructors)
_UNDEFINED: Final = SafeConstructor.construct_undefined


def _constructor_message(error: Exception) -> str:
    if not isinstance(error, ConstructorError):
        return f"this value cannot be read: {error}"
    problem = error.problem or "this value cannot be read"
    if "could not determine a constructor" in problem:
        return problem.replace("could not determine a constructor for the tag", "unknown tag")
    return problem


def _syntax_problem(error: yaml.YAMLError, line_offset: int) -> YamlProblem:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = (mark.line + 1 if mark else 1) + line_offset
    column = mark.column + 1 if mark else 1
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return YamlProblem(line, column, (), message, "yaml")


def _nodes(text: str) -> Iterator[Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def parse_yaml(text: str, line_offset: int = 0) -> tuple[list[ParsedDocument], YamlProblem | None]:
    """Parse every document of ``text``; stop at the first syntax error and report it.

    Documents before a syntax error are returned. ``line_offset`` is added to every line,
    for YAML embedded in a larger file (such as the frontmatter of ``SKILL.md``). A document
    that is empty (only ``---`` or comments) has ``data`` None.
    """
    documents: list[ParsedDocument] = []
    try:
        for node in _nodes(text):
            start = (node.start_mark.line + 1 + line_offset, node.start_mark.column + 1)
            doc = ParsedDocument(data=None, start=start)
            doc.data = _build_document(node, doc, line_offset)
            documents.append(doc)
    except yaml.YAMLError as error:
        return documents, _syntax_problem(error, line_offset)
    return documents, None


def _build_document(node: Node, doc: ParsedDocument, line_offset: int) -> Any:
    try:
        return _Builder(doc, line_offset).build(node, ())
    except RecursionError:
        line, column = doc.start
        doc.problems.append(
            YamlProblem(line, column, (), "the document is nested too deeply", "yaml")
        )
        return None
