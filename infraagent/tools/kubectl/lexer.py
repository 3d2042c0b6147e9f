"""Split a kubectl command line into words, with POSIX shell quoting but without a shell.

``split_command`` understands single quotes, double quotes and backslash escapes the way
a POSIX shell does, and refuses everything a shell would treat as syntax rather than as a
word: unquoted ``;``, ``&`` (so ``&&``), ``|`` (so ``||``), ``<``, ``>``, ``(``, ``)``,
backticks, ``$`` (variables, ``$(...)``, ``${...}``), a ``#`` that starts a word (a
comment), and, even inside double quotes, command substitution and parameter expansion
(which a shell would still perform there). Control characters (newline, NUL, tab, ...)
are refused anywhere, quoted or not; invisible or non-ASCII space characters are refused
too, so that what the model sees and what we judge are the same words.

It deliberately does not expand anything (no globs, braces, tilde or variables): the
words are taken literally, and whatever a shell would have expanded is either literal
here or refused.
"""

from __future__ import annotations

import re
from typing import Final

from infraagent.models.requests import ParseError

MAX_COMMAND_CHARS: Final = 16_384

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile(r"[\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]")
# Anything that needs the slow path: quotes, escapes, or a character a shell treats specially.
_SPECIAL = re.compile(r"[\"'\\;&|<>()`$#]")
_UNQUOTED_META: Final = frozenset(";&|<>()`$")
_DOUBLE_ESCAPES: Final = frozenset('$`"\\')
_EXPANSION_START = re.compile(r"[A-Za-z0-9_({@*#?$!-]")


def _metachar(char: str, where: str = "unquoted") -> ParseError:
    advice = "use single quotes" if where == "double-quoted" else "quote it"
    return ParseError(
        "parse/shell-metacharacter",
        f"the command contains the {where} shell metacharacter {char!r}; commands are never "
        f"run through a shell, so {advice} if it is part of a value",
    )


def split_command(command: str) -> list[str]:
    """Split ``command`` into words, or raise ``ParseError``.

    Rules: ``parse/shell-metacharacter`` for shell syntax and control characters,
    ``parse/syntax`` for unbalanced quotes, a dangling backslash, invisible characters or
    an over-long command.
    """
    if len(command) > MAX_COMMAND_CHARS:
        raise ParseError("parse/syntax", f"the command is longer than {MAX_COMMAND_CHARS} chars")
    control = _CONTROL.search(command)
    if control is not None:
        raise ParseError(
            "parse/shell-metacharacter",
            f"the command contains the control character {control.group()!r}; one command "
            "per call, on one line",
        )
    invisible = _INVISIBLE.search(command)
    if invisible is not None:
        raise ParseError(
            "parse/syntax",
            f"the command contains the invisible character U+{ord(invisible.group()):04X}",
        )
    if _SPECIAL.search(command) is None:
        return command.split()
    return _split_quoted(command)


def _split_quoted(command: str) -> list[str]:
    """The slow path: a small state machine over the characters."""
    words: list[str] = []
    word: list[str] = []
    started = False
    i, end = 0, len(command)
    while i < end:
        char = command[i]
        if char == " ":
            if started:
                words.append("".join(word))
                word, started = [], False
            i += 1
            continue
        if char == "'":
            close = command.find("'", i + 1)
            if close < 0:
                raise ParseError("parse/syntax", "the command has an unbalanced single quote")
            word.append(command[i + 1 : close])
            i = close + 1
        elif char == '"':
            i = _double_quoted(command, i + 1, word)
        elif char == "\\":
            if i + 1 >= end:
                raise ParseError("parse/syntax", "the command ends with a backslash")
            word.append(command[i + 1])
            i += 2
        elif char in _UNQUOTED_META or (char == "#" and not started):
            raise _metachar(char)
        else:
            word.append(char)
            i += 1
        started = True
    if started:
        words.append("".join(word))
    return words


def _double_quoted(command: str, i: int, word: list[str]) -> int:
    """Append the inside of a double-quoted part starting at ``i``; return the index after it."""
    end = len(command)
    while i < end:
        char = command[i]
        if char == '"':
            return i + 1
        if char == "\\" and i + 1 < end and command[i + 1] in _DOUBLE_ESCAPES:
            word.append(command[i + 1])
            i += 2
            continue
        if char == "`":
            raise _metachar(char, "double-quoted")
        if char == "$" and i + 1 < end and _EXPANSION_START.match(command, i + 1):
            raise _metachar(command[i : i + 2], "double-quoted")
        word.append(char)
        i += 1
    raise ParseError("parse/syntax", "the command has an unbalanced double quote")
