"""The script a ``ScriptedServer`` plays: turns and faults, in order, one per request.

A script is YAML with one key, ``turns``, a list of entries. Each request the server
accepts (right path, valid JSON, valid credential when the server checks one) consumes
exactly the next entry:

- a **turn** ``{text, tool_calls, malformed_tool_arguments}`` is answered as the model's
  reply. ``tool_calls`` items are ``{name, input}`` (``input`` a mapping), optionally with
  ``id`` (else the server makes a realistic one) or ``raw_arguments`` (text sent verbatim as
  the arguments, for broken JSON). ``malformed_tool_arguments: true`` cuts every call's
  arguments short so they are not valid JSON. A turn with no tool calls ends the run.
- a **fault** ``{fault: {...}}`` is answered instead of a model reply, and the *next*
  request gets the *next* entry (so a client that retries after a fault gets the turn that
  follows it). ``status`` (400-599) answers with that error in the API's own error format,
  with ``retry_after`` (seconds) as a ``Retry-After`` header, ``model_not_found: true`` as
  the API's unknown-model error (status 404 unless given), ``message`` as the error text.
  ``delay`` (seconds) sleeps first: alone it then answers 504, which a client with a
  shorter timeout never sees (it has timed out).

When the entries run out the server answers a short text turn saying so (never hangs).
Requests it refuses (404 path, 400 invalid body, 401 wrong key) consume nothing.

This module only parses and validates; it does no I/O besides reading the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from infraagent.errors import UsageError


class ScriptError(UsageError):
    """A script file that cannot be played."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScriptToolCall(_Frozen):
    """One tool call the scripted model makes."""

    name: str = Field(min_length=1, max_length=128)
    input: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(None, min_length=1, max_length=128)
    raw_arguments: str | None = None


class ScriptTurn(_Frozen):
    """A reply of the scripted model."""

    text: str = ""
    tool_calls: tuple[ScriptToolCall, ...] = ()
    malformed_tool_arguments: bool = False

    @model_validator(mode="after")
    def _says_something(self) -> ScriptTurn:
        if not self.text and not self.tool_calls:
            raise ValueError("a turn needs text or tool_calls")
        return self


class Fault(_Frozen):
    """An error answer (and/or a delay) instead of a reply."""

    status: int | None = Field(None, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0, le=3600)
    model_not_found: bool = False
    delay: float | None = Field(None, ge=0, le=600)
    message: str | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Fault:
        if self.status is None and self.delay is None and not self.model_not_found:
            raise ValueError("a fault needs status, delay or model_not_found")
        return self

    @property
    def answer_status(self) -> int:
        """The HTTP status answered after any delay."""
        if self.status is not None:
            return self.status
        return 404 if self.model_not_found else 504


class ScriptFault(_Frozen):
    """A script entry holding a fault."""

    fault: Fault


def _entry_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "fault" if "fault" in value else "turn"
    return "fault" if isinstance(value, ScriptFault) else "turn"


Entry = Annotated[
    Annotated[ScriptTurn, Tag("turn")] | Annotated[ScriptFault, Tag("fault")],
    Discriminator(_entry_kind),
]


class Script(_Frozen):
    """The entries the server plays, in order."""

    turns: tuple[Entry, ...] = ()


def parse_script(text: str, source: str = "<script>") -> Script:
    """Parse a script from YAML text; raises ``ScriptError`` naming every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "turns" not in data:
        raise ScriptError(f"{source}: a script is a mapping with a 'turns' list")
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ScriptError(f"{source}: {problems}") from exc


def load_script(path: str | Path) -> Script:
    """Read and parse the script file at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{file}: cannot read the script: {exc.strerror}") from exc
    return parse_script(text, str(file))
