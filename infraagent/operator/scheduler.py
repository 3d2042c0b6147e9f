"""The scheduler's decisions: which agent runs when, pure and time-injected.

``Scheduler`` holds per-agent state keyed by (namespace, name) and decides, for a ``now``
passed in, which runs start. It never reads a clock and does no I/O; ``operator.scheduling``
feeds it from the cluster, launches what ``due`` returns and writes ``status``. Not
thread-safe: its one caller serialises access.

Rules (the original's bugs, seed spec section 15, are the reason for most of them):

- Cron is read in the agent's time zone; an interval runs on a grid from its first fire. A
  new agent's first cron run is its next fire time; an interval agent runs at once.
- Jitter really delays: each fire time gets a deterministic offset (a hash of the agent and
  the fire time) in ``[0, min(period * jitter_fraction, jitter_cap)]`` whole seconds, and the
  run is due only at fire time + jitter. ``nextRunTime`` and the run's ``scheduled_time``
  include it, so schedule lag is measured against it; the same fire always gets the same
  offset, so an unchanged status is never rewritten.
- Single flight: a fire that comes due while the agent's run is in flight is skipped (the
  Ready message says so) and the agent runs at its next fire after that run ends; nothing
  queues up. One manual or webhook request may wait per agent; more are refused.
- A cluster-wide concurrency limit: runs it holds back keep their planned time (their lag
  shows the wait) and start, oldest first, as slots free up.
- Per-agent and cluster-wide hourly limits (sliding window) for every trigger alike. A
  scheduled fire over a limit is skipped (next fire planned, Ready says why); a manual or
  webhook request over a limit is refused with ``rate-limited``.
- After downtime a missed schedule runs once: when an agent is first seen and its
  ``status.lastRunTime`` predates a fire time that has passed, the latest missed fire is
  due at once; the cadence then resumes. ``runCount``, ``lastRunTime``,
  ``consecutiveFailures`` and ``lastRunName`` are restored from the status and continue.
  The hourly windows are not restored (they start empty after a restart).
- ``paused`` agents start nothing; an invalid object, cron or time zone makes the agent
  ``Stalled`` (reason ``InvalidSchedule``, the validation message) and it starts nothing
  until it is fixed.

Deliberately not here: reading annotations, the cluster, launching runs, webhook debounce.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from pydantic import Field, ValidationError

from infraagent.cron import Cadence
from infraagent.models.agent import AgentPhase, InfraAgent, ScheduleSpec
from infraagent.models.agentrun import RunPhase
from infraagent.models.common import Model, parse_duration
from infraagent.ports import RunOutcome, RunRequest

AgentKey = tuple[str, str]  # (namespace, name) of an InfraAgent
SCHEDULED: Final = "scheduled"
MANUAL: Final = "manual"
WEBHOOK: Final = "webhook"
_HOUR: Final = timedelta(hours=1)


class RequestResult(StrEnum):
    """The answer to a manual or webhook run request."""

    ACCEPTED = "accepted"
    ALREADY_RUNNING = "already-running"
    RATE_LIMITED = "rate-limited"
    PAUSED = "paused"
    STALLED = "stalled"
    UNKNOWN = "unknown"


class Limits(Model):
    """Scheduler limits; the defaults are the original's (seed spec section 7)."""

    max_concurrent: int = Field(10, ge=1, description="Runs in flight across the cluster.")
    per_agent_hourly: int = Field(30, ge=1, description="Runs one agent may start per hour.")
    cluster_hourly: int = Field(200, ge=1, description="Runs the cluster may start per hour.")
    jitter_fraction: float = Field(0.10, ge=0, le=1, description="Jitter bound, of the period.")
    jitter_cap: timedelta = Field(timedelta(seconds=30), description="Jitter's upper bound.")


@dataclass
class _Agent:
    key: AgentKey
    generation: int | None = None
    schedule: ScheduleSpec | None = None
    cadence: Cadence | None = None  # None: runs only when triggered
    paused: bool = False
    problem: str | None = None
    fire: datetime | None = None  # the next fire time, before jitter
    planned: datetime | None = None  # fire + jitter: when the scheduled run is due
    pending: RunRequest | None = None  # an accepted manual or webhook request
    note: str | None = None  # why the latest fire was skipped
    held: bool = False  # held back by the concurrency limit since it came due
    last_start_held: bool = False
    last_run_time: datetime | None = None
    run_count: int = 0
    consecutive_failures: int = 0
    last_run_name: str | None = None
    starts: deque[datetime] = field(default_factory=deque)
    phase: AgentPhase = AgentPhase.PENDING
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)


class Scheduler:
    """Per-agent schedule state and the decisions over it; see the module docstring."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._agents: dict[AgentKey, _Agent] = {}
        self._in_flight: dict[AgentKey, RunRequest] = {}
        self._starts: deque[datetime] = deque()  # cluster-wide starts in the window
        self._touched: set[AgentKey] = set()  # agents whose status may have changed

    # ----------------------------------------------------------------- the agents

    def upsert(self, obj: Mapping[str, Any], now: datetime) -> AgentKey:
        """Add or update an agent from its cluster object (plain JSON); its key."""
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        agent = self._agents.get(key)
        first = agent is None
        if agent is None:
            agent = self._agents[key] = _Agent(key)
            _restore(agent, obj.get("status"))
        generation = meta.get("generation")
        agent.generation = generation if isinstance(generation, int) else None
        try:
            spec = InfraAgent.model_validate(obj).spec
        except ValidationError as err:
            agent.problem, agent.schedule, agent.cadence = _describe(err), None, None
            agent.fire = agent.planned = agent.pending = None
        else:
            wanted = (spec.schedule, spec.paused, None)
            if first or (agent.schedule, agent.paused, agent.problem) != wanted:
                agent.schedule, agent.paused, agent.problem = wanted
                agent.note = None
                if agent.paused:
                    agent.pending = None
                self._plan(agent, now, resume=first)
        self._refresh(agent, now)
        return key

    def remove(self, key: AgentKey) -> None:
        """Forget an agent (deleted). A run of it in flight still holds its slot until done."""
        self._agents.pop(key, None)

    def known(self) -> Iterator[AgentKey]:
        """The agents known, in no particular order."""
        return iter(list(self._agents))

    # ----------------------------------------------------------------- decisions

    def request(self, key: AgentKey, trigger: str, now: datetime) -> RequestResult:
        """Ask for a manual or webhook run; accepted ones start at the next ``due``."""
        agent = self._agents.get(key)
        if agent is None:
            return RequestResult.UNKNOWN
        if agent.problem is not None:
            return RequestResult.STALLED
        if agent.paused:
            return RequestResult.PAUSED
        if key in self._in_flight or agent.pending is not None:
            return RequestResult.ALREADY_RUNNING
        if self._rate_problem(agent, now) is not None:
            return RequestResult.RATE_LIMITED
        agent.pending = RunRequest(key[0], key[1], trigger, requested_time=now)
        return RequestResult.ACCEPTED

    def due(self, now: datetime, *, requests_only: bool = False) -> list[RunRequest]:
        """The runs to start now, oldest planned or requested first; each counts as started.

        ``requests_only``: only manual and webhook requests start (a one-pass job runs each
        agent exactly once, whatever its schedule says).
        """
        waiting: list[tuple[datetime, AgentKey, _Agent]] = []
        for agent in self._agents.values():
            if agent.key in self._in_flight or agent.paused or agent.problem is not None:
                continue
            if agent.pending is not None:
                waiting.append((agent.pending.requested_time, agent.key, agent))
            elif not requests_only and agent.planned is not None and agent.planned <= now:
                waiting.append((agent.planned, agent.key, agent))
        waiting.sort(key=lambda item: (item[0], item[1]))
        started: list[RunRequest] = []
        for _, _, agent in waiting:
            if len(self._in_flight) >= self.limits.max_concurrent:
                agent.held = True
                continue
            problem = self._rate_problem(agent, now)
            if problem is None:
                started.append(self._start(agent, now))
            elif agent.pending is None:
                self._skip(agent, now, problem)
        return started

    def started(self, key: AgentKey, run_name: str, now: datetime) -> None:
        """The AgentRun of the agent's run in flight exists now, named ``run_name``."""
        agent = self._agents.get(key)
        if agent is not None and key in self._in_flight:
            agent.last_run_name = run_name
            self._refresh(agent, now)

    def finished(self, key: AgentKey, outcome: RunOutcome, now: datetime) -> None:
        """The agent's run in flight is over: free its slot and count the outcome."""
        self._in_flight.pop(key, None)
        agent = self._agents.get(key)
        if agent is None:
            return
        agent.last_run_name = outcome.run_name or agent.last_run_name
        if outcome.phase == RunPhase.SUCCEEDED:
            agent.consecutive_failures = 0
        else:
            agent.consecutive_failures += 1
        if agent.planned is not None and agent.planned <= now:
            self._skip(agent, now, "the previous run was still going")
        self._refresh(agent, now)

    # ----------------------------------------------------------------- reading

    def status(self, key: AgentKey) -> dict[str, Any]:
        """The InfraAgent status fields to write (None removes a field in a merge patch)."""
        agent = self._agents[key]
        return {
            "observedGeneration": agent.generation,
            "phase": agent.phase.value,
            "nextRunTime": _rfc3339(agent.planned),
            "lastRunTime": _rfc3339(agent.last_run_time),
            "runCount": agent.run_count,
            "consecutiveFailures": agent.consecutive_failures,
            "lastRunName": agent.last_run_name,
            "conditions": [dict(c) for c in agent.conditions.values()],
        }

    def touched(self) -> set[AgentKey]:
        """The known agents whose status may have changed since the last call (then cleared)."""
        touched, self._touched = self._touched, set()
        return {key for key in touched if key in self._agents}

    def next_wakeup(self) -> datetime | None:
        """The earliest planned time among agents that could start (not in flight), or None."""
        times = [
            a.planned
            for a in self._agents.values()
            if a.planned is not None and a.key not in self._in_flight
        ]
        return min(times, default=None)

    @property
    def in_flight(self) -> int:
        """Runs started and not yet finished."""
        return len(self._in_flight)

    def retry_after(self, key: AgentKey, now: datetime) -> timedelta | None:
        """How long until a refused (rate-limited) request of the agent could be accepted."""
        agent = self._agents.get(key)
        if agent is None or self._rate_problem(agent, now) is None:
            return None
        frees = []
        if len(agent.starts) >= self.limits.per_agent_hourly:
            frees.append(agent.starts[len(agent.starts) - self.limits.per_agent_hourly])
        if len(self._starts) >= self.limits.cluster_hourly:
            frees.append(self._starts[len(self._starts) - self.limits.cluster_hourly])
        return max(frees) + _HOUR - now

    def last_start_held(self, key: AgentKey) -> bool:
        """Whether the agent's latest run waited on the concurrency limit before it started."""
        agent = self._agents.get(key)
        return agent is not None and agent.last_start_held

    # ----------------------------------------------------------------- internals

    def _start(self, agent: _Agent, now: datetime) -> RunRequest:
        if agent.pending is not None:
            request, agent.pending = agent.pending, None
        else:
            assert agent.planned is not None
            request = RunRequest(
                agent.key[0], agent.key[1], SCHEDULED, agent.planned, agent.planned
            )
            self._advance(agent, now)
        self._in_flight[agent.key] = request
        agent.starts.append(now)
        self._starts.append(now)
        agent.last_run_time, agent.run_count = now, agent.run_count + 1
        agent.last_start_held, agent.held, agent.note = agent.held, False, None
        self._refresh(agent, now)
        return request

    def _skip(self, agent: _Agent, now: datetime, why: str) -> None:
        agent.note = f"the run planned for {_rfc3339(agent.planned)} was skipped: {why}"
        agent.held = False
        self._advance(agent, now)
        self._refresh(agent, now)

    def _rate_problem(self, agent: _Agent, now: datetime) -> str | None:
        for window in (agent.starts, self._starts):
            while window and window[0] <= now - _HOUR:
                window.popleft()
        if len(agent.starts) >= self.limits.per_agent_hourly:
            return f"the agent's limit of {self.limits.per_agent_hourly} runs per hour is reached"
        if len(self._starts) >= self.limits.cluster_hourly:
            return f"the cluster's limit of {self.limits.cluster_hourly} runs per hour is reached"
        return None

    def _plan(self, agent: _Agent, now: datetime, *, resume: bool) -> None:
        agent.cadence = _cadence(agent.schedule)
        if agent.paused or agent.cadence is None:
            agent.fire = agent.planned = None
            return
        agent.fire = agent.cadence.first(agent.last_run_time if resume else None, now)
        agent.planned = agent.fire + self._jitter(agent.key, agent.cadence, agent.fire)

    def _advance(self, agent: _Agent, now: datetime) -> None:
        if agent.cadence is None or agent.fire is None:
            agent.fire = agent.planned = None
            return
        agent.fire = agent.cadence.after(agent.fire, now)
        agent.planned = agent.fire + self._jitter(agent.key, agent.cadence, agent.fire)

    def _jitter(self, key: AgentKey, cadence: Cadence, fire: datetime) -> timedelta:
        """A deterministic delay for this agent and fire time, within the configured bound."""
        bound = min(cadence.period(fire) * self.limits.jitter_fraction, self.limits.jitter_cap)
        seconds = int(bound.total_seconds())
        if seconds < 1:
            return timedelta(0)
        digest = hashlib.sha256(f"{key[0]}/{key[1]}@{fire.isoformat()}".encode()).digest()
        return timedelta(seconds=int.from_bytes(digest[:8], "big") % (seconds + 1))

    def _refresh(self, agent: _Agent, now: datetime) -> None:
        phase, wanted = _summary(
            agent, agent.key in self._in_flight, self._in_flight.get(agent.key)
        )
        agent.phase = phase
        self._touched.add(agent.key)
        conditions: dict[str, dict[str, Any]] = {}
        for kind, status, reason, message in wanted:
            before = agent.conditions.get(kind)
            since = before.get("lastTransitionTime") if before else None
            if before is None or before.get("status") != status or not since:
                since = _rfc3339(now)
            conditions[kind] = {
                "type": kind,
                "status": status,
                "observedGeneration": agent.generation,
                "lastTransitionTime": since,
                "reason": reason,
                "message": message,
            }
            if agent.generation is None:
                del conditions[kind]["observedGeneration"]
        agent.conditions = conditions


_Wanted = tuple[str, str, str, str]  # type, status, reason, message


def _summary(
    agent: _Agent, running: bool, request: RunRequest | None
) -> tuple[AgentPhase, list[_Wanted]]:
    if agent.problem is not None:
        return AgentPhase.STALLED, [
            ("Ready", "False", "InvalidSchedule", agent.problem),
            ("Stalled", "True", "InvalidSchedule", agent.problem),
        ]
    if agent.paused:
        return AgentPhase.PAUSED, [
            ("Ready", "False", "Paused", "paused: no run of any kind starts")
        ]
    if running and request is not None:
        started = _rfc3339(agent.last_run_time)
        return AgentPhase.RUNNING, [
            ("Ready", "True", "Running", f"a {request.trigger} run started at {started}")
        ]
    if agent.planned is None:
        message = "runs only when triggered (webhook or the run-now annotation)"
        return AgentPhase.READY, [("Ready", "True", "TriggerOnly", message)]
    upcoming = f"next run at {_rfc3339(agent.planned)}"
    if agent.note is not None:
        return AgentPhase.READY, [("Ready", "True", "RunSkipped", f"{agent.note}; {upcoming}")]
    return AgentPhase.READY, [("Ready", "True", "Scheduled", upcoming)]


def _cadence(schedule: ScheduleSpec | None) -> Cadence | None:
    if schedule is None or (schedule.cron is None and not schedule.interval):
        return None
    interval = parse_duration(schedule.interval) if schedule.interval else None
    return Cadence(schedule.cron, schedule.timezone, interval)


def _restore(agent: _Agent, status: object) -> None:
    """Continue the counters a previous leader wrote (malformed values are ignored)."""
    if not isinstance(status, Mapping):
        return
    for name, attr in (("runCount", "run_count"), ("consecutiveFailures", "consecutive_failures")):
        value = status.get(name)
        if isinstance(value, int) and value >= 0:
            setattr(agent, attr, value)
    run_name = status.get("lastRunName")
    agent.last_run_name = run_name if isinstance(run_name, str) else None
    agent.last_run_time = _parse_time(status.get("lastRunTime"))
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and isinstance(condition.get("type"), str):
            agent.conditions[condition["type"]] = dict(condition)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(err: ValidationError) -> str:
    """The validation errors as one line: ``field.path: message``, at most three."""
    parts = []
    for error in err.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "object"
        parts.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    more = len(err.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
