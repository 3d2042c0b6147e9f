"""Ports: the Protocols through which the application and runtime reach the outside world.

Adapters at the edge implement them (``providers/*`` for models, ``adapters/*`` for the
cluster and Git); tests use fakes or real local servers. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from infraagent.models.conversation import Completion, CompletionRequest
from infraagent.models.requests import CanonicalRequest


class ModelProvider(Protocol):
    """A language model behind one provider's API.

    ``complete`` retries what is worth retrying (429, 5xx, timeouts; honouring
    ``Retry-After``) a bounded number of times, then raises a ``ProviderError``.
    """

    def complete(self, request: CompletionRequest) -> Completion: ...


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What executing a tool call produced, before redaction and truncation.

    ``is_error`` marks a failed call (an API error such as 403 or 404, a timeout): it is
    data for the model, not an exception.
    """

    text: str
    is_error: bool = False


class ToolExecutor(Protocol):
    """Executes tool calls the guardrails allowed, as the agent's own identity.

    ``requests`` are the canonical requests that were judged; an executor runs exactly
    those, never a re-interpretation of the raw arguments.
    """

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput: ...


class Clock(Protocol):
    """The time, injected so runs and schedules are testable without sleeping."""

    def now(self) -> datetime: ...
