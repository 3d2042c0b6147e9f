"""A provider-neutral conversation: what the agent loop sends to a model and gets back.

Providers translate these to and from their SDK's types; no SDK type crosses this line.
Tool names use only ``[a-zA-Z0-9_-]`` and round-trip exactly; tool call ids are kept as
the provider issued them. These are plain frozen dataclasses and do no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model asked for.

    ``arguments`` is the decoded JSON object; when the model sent arguments that are not a
    JSON object, ``arguments`` is empty and ``invalid_arguments`` holds the raw text, so the
    loop can answer with an error instead of guessing.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    invalid_arguments: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to one tool call, as the model will see it (already redacted)."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. A user turn carries text and/or tool results; an assistant turn carries
    text and/or tool calls."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """Everything one model call needs. ``system`` and ``tools`` are the stable prefix that
    providers mark for prompt caching. ``tool_choice`` ``none`` keeps the definitions (the
    history may hold tool calls, and the prefix stays cached) but lets the model call no
    tool: the final iteration uses it."""

    model: str
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_output_tokens: int = 4096
    tool_choice: Literal["auto", "none"] = "auto"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one call. ``input_tokens`` counts every input token, cached ones included."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's answer: text, tool calls, why it stopped, and what it cost."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str
    usage: TokenUsage
