"""AgentRuns on the cluster: the audit record of each run, written as the run goes.

- ``AgentRunRecorder`` creates the AgentRun when a run starts (``generateName: <agent>-``
  in the agent's namespace, labelled ``infraagent.io/agent: <agent>``), marks it Running
  through the status subresource, updates its status while it runs and writes the terminal
  status once. The API server keeps the record honest: the CRD's CEL rules reject any change
  of the spec, and any change of the status once its phase is terminal (a ``KubeInvalid``).
- AgentRuns carry **no** ownerReferences, on purpose: an owner reference to the InfraAgent
  would let the garbage collector delete the whole audit trail with the agent. Runs outlive
  their agent and are removed only by retention.
- ``mark_interrupted`` closes the runs a dead process left ``Running`` (or ``Pending``):
  phase and reason ``Interrupted``. The new leader calls it once when it takes the Lease,
  before it schedules anything, so no record stays open forever.
- ``retention`` (pure) chooses the runs to delete: finished runs older than ``max_age``,
  except the newest ``keep_per_agent`` finished runs of each agent; a run that has not
  finished is never deleted. ``apply_retention`` lists, chooses and deletes.

The time is always injected (a ``Clock`` or a ``now``); nothing here reads it. Cluster
errors propagate as ``KubeError``: the caller decides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from infraagent.errors import KubeInvalid, KubeNotFound
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import (
    TERMINAL_PHASES,
    AgentRunSpec,
    AgentRunStatus,
    RunLimits,
    RunPhase,
    Trigger,
    fit_status,
)
from infraagent.models.common import GROUP_VERSION, Condition, ConditionStatus, parse_duration
from infraagent.ports import Clock, Cluster

KIND: Final = "AgentRun"
AGENT_LABEL: Final = "infraagent.io/agent"
INTERRUPTED_REASON: Final = "Interrupted"
_OPEN_PHASES: Final = frozenset({RunPhase.PENDING.value, RunPhase.RUNNING.value})
_TERMINAL: Final = frozenset(p.value for p in TERMINAL_PHASES)


def _status_body(status: AgentRunStatus) -> dict[str, Any]:
    body: dict[str, Any] = fit_status(status).model_dump(mode="json", exclude_none=True)
    return body


class AgentRunRecorder:
    """Writes the AgentRuns of the runs this process executes."""

    def __init__(self, cluster: Cluster, clock: Clock) -> None:
        self._cluster = cluster
        self._clock = clock

    def start(
        self,
        agent: InfraAgent,
        trigger: Trigger,
        model_used: str | None,
        scheduled_time: datetime | None = None,
    ) -> str:
        """Create the run's AgentRun and mark it Running; the server-generated name."""
        name, namespace = agent.metadata.name, agent.metadata.namespace
        if not name or not namespace:
            raise ValueError("an agent needs a name and a namespace to record its runs")
        created = self._cluster.create(
            new_agentrun(agent, trigger, model_used, scheduled_time, namespace)
        )
        run_name: str = created["metadata"]["name"]
        now = self._clock.now()
        lag = None if scheduled_time is None else schedule_lag_ms(scheduled_time, now)
        running = AgentRunStatus(phase=RunPhase.RUNNING, startTime=now, scheduleLagMs=lag)
        self._write(run_name, namespace, running)
        return run_name

    def update(self, name: str, namespace: str, status: AgentRunStatus) -> None:
        """Write a status of the run while it runs (never a terminal one: see ``finish``)."""
        if status.phase in TERMINAL_PHASES:
            raise ValueError(f"{status.phase} is terminal: finish the run instead")
        self._write(name, namespace, status)

    def finish(self, name: str, namespace: str, status: AgentRunStatus) -> None:
        """Write the terminal status; the server refuses any later change (``KubeInvalid``)."""
        if status.phase not in TERMINAL_PHASES:
            raise ValueError(f"{status.phase} is not a terminal phase")
        self._write(name, namespace, status)

    def _write(self, name: str, namespace: str, status: AgentRunStatus) -> None:
        self._cluster.patch_status(GROUP_VERSION, KIND, name, _status_body(status), namespace)


def schedule_lag_ms(planned: datetime, started: datetime) -> int:
    """Whole milliseconds from the planned start to the actual one (never negative)."""
    return max(0, (started - planned) // timedelta(milliseconds=1))


def new_agentrun(
    agent: InfraAgent,
    trigger: Trigger,
    model_used: str | None,
    scheduled_time: datetime | None,
    namespace: str,
) -> dict[str, Any]:
    """The AgentRun to create for a run of ``agent`` (no ownerReferences: see the module)."""
    name = agent.metadata.name or ""
    spec = AgentRunSpec(
        agentRef=name,
        environmentRef=agent.spec.environmentRef,
        trigger=trigger,
        modelUsed=model_used,
        autonomy=agent.spec.guardrails.autonomy,
        scheduledTime=scheduled_time,
        limits=RunLimits(
            tokenBudget=agent.spec.model.tokenBudget,
            maxIterations=agent.spec.guardrails.maxIterations,
            timeoutSeconds=int(parse_duration(agent.spec.model.timeout).total_seconds()),
        ),
    )
    return {
        "apiVersion": GROUP_VERSION,
        "kind": KIND,
        "metadata": {
            "generateName": f"{name}-",
            "namespace": namespace,
            "labels": {AGENT_LABEL: name},
        },
        "spec": spec.model_dump(mode="json", exclude_none=True),
    }


# --------------------------------------------------------------------------- interrupted runs


def _phase(run: Mapping[str, Any]) -> str:
    """The run's phase; a run whose status was never written is still Pending."""
    phase = (run.get("status") or {}).get("phase")
    return phase if isinstance(phase, str) else RunPhase.PENDING.value


def _interrupted_status(now: datetime) -> dict[str, Any]:
    condition = Condition(
        type="Complete",
        status=ConditionStatus.FALSE,
        lastTransitionTime=now,
        reason=INTERRUPTED_REASON,
        message="The process running this run stopped before it finished.",
    )
    return {
        "phase": RunPhase.INTERRUPTED.value,
        "reason": INTERRUPTED_REASON,
        "completionTime": condition.model_dump(mode="json")["lastTransitionTime"],
        "conditions": [condition.model_dump(mode="json", exclude_none=True)],
    }


def mark_interrupted(
    cluster: Cluster,
    namespace: str | None = None,
    *,
    now: datetime,
    owner_alive: Callable[[dict[str, Any]], bool] = lambda run: False,
) -> list[str]:
    """Close the runs left Running or Pending by a process that is gone; their names.

    Called by the new leader when it takes the Lease, before it schedules anything: the
    previous leader is gone, so by default every open run is orphaned. ``owner_alive`` lets
    a caller spare runs that a live process still owns. A run that finished (422: its status
    is final) or disappeared between the list and the patch is left alone.
    """
    closed: list[str] = []
    body = _interrupted_status(now)
    for run in cluster.list(GROUP_VERSION, KIND, namespace).items:
        if _phase(run) not in _OPEN_PHASES or owner_alive(run):
            continue
        meta = run["metadata"]
        try:
            cluster.patch_status(GROUP_VERSION, KIND, meta["name"], body, meta["namespace"])
        except (KubeInvalid, KubeNotFound):
            continue
        closed.append(meta["name"])
    return closed


# --------------------------------------------------------------------------- retention


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_time(run: Mapping[str, Any]) -> datetime:
    """When the run started (``status.startTime``, else ``metadata.creationTimestamp``)."""
    meta = run.get("metadata") or {}
    started = _parse_time((run.get("status") or {}).get("startTime"))
    created = _parse_time(meta.get("creationTimestamp"))
    return started or created or datetime.min.replace(tzinfo=UTC)


def run_agent(run: Mapping[str, Any]) -> str:
    """The agent of the run: its label, else ``spec.agentRef``."""
    labels = (run.get("metadata") or {}).get("labels") or {}
    agent = labels.get(AGENT_LABEL) or (run.get("spec") or {}).get("agentRef")
    return str(agent or "")


def _doomed(
    runs: Sequence[Mapping[str, Any]], now: datetime, max_age: timedelta, keep_per_agent: int
) -> list[Mapping[str, Any]]:
    finished: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        if _phase(run) in _TERMINAL:
            namespace = str((run.get("metadata") or {}).get("namespace") or "")
            finished[namespace, run_agent(run)].append(run)
    doomed: list[Mapping[str, Any]] = []
    for agent_runs in finished.values():
        newest_first = sorted(agent_runs, key=run_time, reverse=True)
        doomed.extend(
            run for run in newest_first[max(0, keep_per_agent) :] if now - run_time(run) > max_age
        )
    return doomed


def retention(
    runs: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    max_age: timedelta,
    keep_per_agent: int,
) -> list[str]:
    """The names of the runs to delete (sorted); pure.

    A run is deleted when it has finished (terminal phase) and started more than
    ``max_age`` before ``now``, unless it is one of the ``keep_per_agent`` newest finished
    runs of its agent (an agent is its namespace and name). A run that has not finished is
    never deleted, and does not count towards the minimum kept.
    """
    return sorted(
        str(run["metadata"]["name"]) for run in _doomed(runs, now, max_age, keep_per_agent)
    )


def apply_retention(
    cluster: Cluster,
    namespace: str | None = None,
    *,
    now: datetime,
    max_age: timedelta,
    keep_per_agent: int,
) -> list[str]:
    """List the AgentRuns, delete those ``retention`` chooses; the names deleted."""
    runs = cluster.list(GROUP_VERSION, KIND, namespace).items
    deleted: list[str] = []
    for run in _doomed(runs, now, max_age, keep_per_agent):
        meta = run["metadata"]
        try:
            cluster.delete(GROUP_VERSION, KIND, meta["name"], meta["namespace"])
        except KubeNotFound:
            continue
        deleted.append(meta["name"])
    return sorted(deleted)
