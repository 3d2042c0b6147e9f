"""kubectl flags: specifications, tables, and a pflag-compatible parser.

A ``FlagTable`` lists the flags one sub-command accepts (plus the global ones); ``parse_args``
splits the words after the sub-command into positionals and flag values exactly as
kubectl's flag library (pflag) does: ``--flag=value`` and ``--flag value``, ``-n ns``,
``-nns`` and ``-n=ns``, grouped boolean shorthands (``-wA``), ``--flag=false`` for booleans,
flags with an optional value (``--dry-run``, ``--cascade``) that never take the next word,
``_`` spelled as ``-`` in names (kubectl normalises them), and ``--`` ending the flags.

Identity and target flags (``--server``/``-s``, ``--kubeconfig``, ``--as`` ...) are refused
wherever they appear, even as the value of another flag or after ``--``; the only exception
is a sub-command that defines a flag of the same name itself (``create rolebinding --user``),
which, as in kubectl, shadows the global one. Flags that would read local files are refused
as ``parse/file-input``; unknown flags as ``parse/unknown-flag``.

This module knows nothing about what a flag means for a sub-command; the command modules do.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from infraagent.models.requests import ParseError


class Arity(enum.Enum):
    BOOL = "bool"  # no value; ``--x=false`` turns it off
    VALUE = "value"  # a value, from ``=`` or the next word
    OPTIONAL = "optional"  # a value only from ``=``; bare means ``Flag.bare``
    FILE = "file"  # reads a local file: always refused
    MANIFEST = "manifest"  # -f/--filename: only ``-`` (the inline manifest) is accepted


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    arity: Arity
    short: str = ""
    bare: str = ""


def boolean(name: str, short: str = "") -> Flag:
    return Flag(name, Arity.BOOL, short)


def value(name: str, short: str = "") -> Flag:
    return Flag(name, Arity.VALUE, short)


def optional(name: str, bare: str) -> Flag:
    return Flag(name, Arity.OPTIONAL, bare=bare)


def file(name: str, short: str = "") -> Flag:
    return Flag(name, Arity.FILE, short)


@dataclass(frozen=True, slots=True)
class FlagTable:
    longs: dict[str, Flag]
    shorts: dict[str, Flag]

    @staticmethod
    def of(*groups: Iterable[Flag]) -> FlagTable:
        longs: dict[str, Flag] = {}
        shorts: dict[str, Flag] = {}
        for group in groups:
            for spec in group:
                longs[spec.name] = spec
                if spec.short:
                    shorts[spec.short] = spec
        return FlagTable(longs, shorts)


IDENTITY_FLAGS: Final = frozenset(
    {
        "server", "kubeconfig", "context", "cluster", "user", "token", "as", "as-group",
        "as-uid", "certificate-authority", "client-certificate", "client-key",
        "insecure-skip-tls-verify", "tls-server-name", "username", "password", "raw",
        "cache-dir", "kuberc",
    }
)  # fmt: skip
IDENTITY_SHORTS: Final = frozenset({"s"})

GLOBAL: Final = (
    value("namespace", "n"),
    value("request-timeout"),
    value("v", "v"),
    boolean("disable-compression"),
    boolean("match-server-version"),
    boolean("warnings-as-errors"),
)
ALL_NAMESPACES: Final = (boolean("all-namespaces", "A"),)
SELECT: Final = (value("selector", "l"), boolean("all"), value("field-selector"))
PRINT: Final = (
    value("output", "o"),
    value("template"),
    boolean("allow-missing-template-keys"),
    boolean("show-managed-fields"),
)
MUTATE: Final = (
    optional("dry-run", "unchanged"),
    value("field-manager"),
    boolean("record"),
    *PRINT,
)
FILES: Final = (
    Flag("filename", Arity.MANIFEST, "f"),
    file("kustomize", "k"),
    file("recursive", "R"),
)
GLOBAL_TABLE: Final = FlagTable.of(GLOBAL, ALL_NAMESPACES)

_TRUE: Final = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "false", "FALSE", "False"})


@dataclass(slots=True)
class Args:
    """The positionals and flag values of one sub-command; values keep their order."""

    positionals: list[str] = field(default_factory=list)
    dash: int | None = None  # index in ``positionals`` where ``--`` was, if any
    values: dict[str, list[str]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.values

    def last(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[-1] if found else None

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def csv(self, name: str) -> list[str]:
        """A string-slice flag: every occurrence, split on commas."""
        return [part for item in self.all(name) for part in item.split(",")]

    def flag(self, name: str) -> bool:
        return self.last(name) == "true"

    def selector(self, name: str = "selector") -> str | None:
        """A selector flag; blank means not given, as for kubectl (never "match all")."""
        text = self.last(name)
        return text.strip() or None if text is not None else None


def parse_bool(text: str, name: str) -> str:
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    raise ParseError("parse/syntax", f"flag --{name} takes true or false, not {text!r}")


def go_int(text: str, name: str, minimum: int | None = None) -> int:
    """Parse an integer flag value; refuse spellings whose meaning could be misread.

    Only plain digits (optionally with a leading ``-``) are accepted. A leading zero means
    octal, as for kubectl (``010`` is 8); hex, binary, ``+`` and ``_`` are refused.
    """
    digits = text[1:] if text.startswith("-") else text
    if not digits.isascii() or not digits.isdigit():
        raise ParseError("parse/syntax", f"flag --{name} needs an integer, not {text!r}")
    try:
        number = int(digits, 8) if len(digits) > 1 and digits[0] == "0" else int(digits)
    except ValueError as error:
        raise ParseError("parse/syntax", f"flag --{name}: {text!r} is not octal") from error
    number = -number if text.startswith("-") else number
    if minimum is not None and number < minimum:
        raise ParseError("parse/syntax", f"flag --{name} must be at least {minimum}")
    return number


def identity_error(name: str) -> ParseError:
    return ParseError(
        "parse/identity-flag",
        f"flag {name} changes the identity, credentials or target of the call; it is never "
        "allowed (calls always run as the agent's own identity against its own cluster)",
    )


def identity_name(word: str) -> str | None:
    """The identity flag ``word`` would set, if it looks like one (for any position)."""
    if len(word) < 2 or word[0] != "-":
        return None
    if word[1] != "-":
        return f"-{word[1]}" if word[1] in IDENTITY_SHORTS else None
    name = word[2:].partition("=")[0].replace("_", "-")
    if name in IDENTITY_FLAGS or name.startswith(("profile", "as-")):
        return f"--{name}"
    return None


def scan_identity(words: Sequence[str]) -> bool:
    """Refuse any word that looks like an identity flag, except ``--user``.

    Returns whether ``--user`` was seen: it is refused later unless the sub-command defines
    a ``--user`` flag of its own (``create rolebinding``), which shadows the global one.
    """
    user = False
    for word in words:
        if len(word) > 1 and word[0] == "-":
            name = identity_name(word)
            if name == "--user":
                user = True
            elif name is not None:
                raise identity_error(name)
    return user


def _store(values: dict[str, list[str]], name: str, text: str) -> None:
    found = values.get(name)
    if found is None:
        values[name] = [text]
    else:
        found.append(text)


def _take(spec: Flag, attached: str | None, words: Sequence[str], i: int) -> tuple[str, int]:
    """The value of ``spec`` (``attached`` after ``=``, else maybe the next word)."""
    if spec.arity is Arity.FILE:
        raise ParseError(
            "parse/file-input",
            f"flag --{spec.name} reads local files; pass the content inline instead",
        )
    if spec.arity is Arity.BOOL:
        return (parse_bool(attached, spec.name) if attached is not None else "true"), i
    if attached is not None:
        return attached, i
    if spec.arity is Arity.OPTIONAL:
        return spec.bare, i
    if i >= len(words):
        raise ParseError("parse/syntax", f"flag --{spec.name} needs a value")
    return words[i], i + 1


def _long(word: str, words: Sequence[str], i: int, table: FlagTable, out: Args) -> int:
    name, eq, attached = word[2:].partition("=")
    name = name.replace("_", "-")
    spec = table.longs.get(name)
    if spec is None:
        if name in IDENTITY_FLAGS or name.startswith(("profile", "as-")):
            raise identity_error(f"--{name}")
        raise ParseError("parse/unknown-flag", f"unknown flag --{name} for this sub-command")
    text, i = _take(spec, attached if eq else None, words, i)
    _store(out.values, spec.name, text)
    return i


def _short(word: str, words: Sequence[str], i: int, table: FlagTable, out: Args) -> int:
    j = 1
    while j < len(word):
        char = word[j]
        spec = table.shorts.get(char)
        if spec is None:
            if char in IDENTITY_SHORTS:
                raise identity_error(f"-{char}")
            raise ParseError("parse/unknown-flag", f"unknown flag -{char} for this sub-command")
        rest = word[j + 1 :]
        if spec.arity is Arity.BOOL and not (len(rest) > 1 and rest[0] == "="):
            _store(out.values, spec.name, _take(spec, None, words, i)[0])
            j += 1
            continue
        attached = rest[1:] if len(rest) > 1 and rest[0] == "=" else (rest or None)
        text, i = _take(spec, attached, words, i)
        _store(out.values, spec.name, text)
        break
    return i


def parse_args(words: Sequence[str], table: FlagTable) -> Args:
    """Split ``words`` (everything but the sub-command path) into positionals and flags."""
    out = Args()
    i, end = 0, len(words)
    while i < end:
        word = words[i]
        i += 1
        if len(word) < 2 or word[0] != "-":
            out.positionals.append(word)
        elif word == "--":
            out.dash = len(out.positionals)
            out.positionals.extend(words[i:])
            break
        elif word[1] == "-":
            i = _long(word, words, i, table, out)
        else:
            i = _short(word, words, i, table, out)
    return out
