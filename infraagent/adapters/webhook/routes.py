"""The receiver's vocabulary: routes, callback types and the agent-trigger result.

``match_route`` maps a request path to a ``HookRoute`` (``/hooks/fleet/<ns>/<name>`` for a
FleetSource's GitHub push events, ``/hooks/agents/<ns>/<name>`` for a webhook-triggered
agent run) or None. Names must be Kubernetes names (DNS-1123), so a path never carries
anything odd into callbacks or logs. Deliberately no HTTP here.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

HookKind = Literal["fleet", "agent"]

SecretLookup = Callable[[HookKind, str, str], bytes | None]
"""``secret_for(kind, namespace, name)``: the webhook secret, or None when none is set."""

FleetPushCallback = Callable[[str, str], None]
"""``on_fleet_push(namespace, name)``: must be cheap (hand over to a coalescing trigger)."""


class TriggerResult(enum.Enum):
    """What the scheduler made of a webhook-triggered agent run, and its HTTP status.

    The values are the scheduler's own answers (``operator.scheduler.RequestResult``, which
    this edge module may not import), so the composition root maps one to the other with
    ``TriggerResult(answer.value)``.
    """

    ACCEPTED = "accepted"  # 202
    ALREADY_RUNNING = "already-running"  # 409: single flight
    RATE_LIMITED = "rate-limited"  # 429 with Retry-After
    PAUSED = "paused"  # 409: the agent is paused
    STALLED = "stalled"  # 409: the agent cannot be scheduled (e.g. an invalid schedule)
    UNKNOWN = "unknown"  # 404, the same answer as for an agent without a webhook


class AgentTriggerOutcome(BaseModel):
    """A ``TriggerResult`` with the seconds a refused caller should wait before retrying."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result: TriggerResult
    retry_after_seconds: int | None = Field(default=None, ge=1)

    @classmethod
    def rate_limited(cls, retry_after: timedelta | None) -> AgentTriggerOutcome:
        """A rate-limited answer; ``retry_after`` rounded up to whole seconds (at least 1)."""
        seconds = None if retry_after is None else max(1, math.ceil(retry_after.total_seconds()))
        return cls(result=TriggerResult.RATE_LIMITED, retry_after_seconds=seconds)


AgentTriggerCallback = Callable[[str, str], TriggerResult | AgentTriggerOutcome]
"""``on_agent_trigger(namespace, name)``: asks the scheduler for a run, says what it did."""

_ROUTE: Final = re.compile(r"/hooks/(fleet|agents)/([^/]+)/([^/]+)")
_NAMESPACE: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_KINDS: Final[dict[str, HookKind]] = {"fleet": "fleet", "agents": "agent"}


class HookRoute(BaseModel):
    """A matched hook: what kind of object, and which one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: HookKind
    namespace: str
    name: str


def match_route(path: str) -> HookRoute | None:
    """The hook a request path addresses (query string ignored), or None."""
    found = _ROUTE.fullmatch(path.split("?", 1)[0])
    if found is None:
        return None
    kind, namespace, name = found.groups()
    if _NAMESPACE.fullmatch(namespace) is None or _NAME.fullmatch(name) is None:
        return None
    return HookRoute(kind=_KINDS[kind], namespace=namespace, name=name)


def loggable_path(path: str | None, limit: int = 120) -> str:
    """``path`` without its query, cut to ``limit``, only printable ASCII: safe for one log line."""
    if not path:
        return "-"
    bare = path.split("?", 1)[0][:limit]
    return "".join(c if "!" <= c <= "~" else "?" for c in bare)
