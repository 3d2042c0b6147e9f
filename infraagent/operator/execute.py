"""Executing one run on the cluster: from a ``RunRequest`` (or an existing AgentRun) to its end.

- ``execute_run``: the in-process path. Read the agent, resolve everything its run needs
  (``run_inputs``), create its AgentRun (trigger, planned start, so ``scheduleLagMs`` is
  recorded, and the model used; Running at once), run the agent loop with a
  ``ToolExecutor`` acting as the agent's identity, write the ledger to the AgentRun after
  every step, finish it with the terminal status.
- ``execute_agent_run``: the Job path (``infraagent run --agent-run NAME`` in the pod): the
  AgentRun already exists (Pending, created by ``jobs.JobLauncher``); mark it Running, then
  the same steps.

Whatever goes wrong after the AgentRun exists (missing environment, skill, tier or Secret;
a sheet that does not parse; a provider that cannot be built; any unexpected error) ends the
run ``Failed`` with a reason and a message naming the problem, recorded on the AgentRun and
never raised. The provider's key reaches only the provider (through ``model_for``) and the
``Redactor``: never the record. Only an agent that does not exist, or an AgentRun that cannot
be written, leaves no record (``RunOutcome.run_name`` None, or phase Failed).

This is the application layer: no provider, adapter or loader is imported. The composition
root injects ``model_for`` (tier → provider), ``executor_for`` (agent → executor as its
identity), the Secret reader and the git skill fetcher. ``fail_run`` (finish a run Failed
with a reason) is shared with ``jobs``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from infraagent.errors import InfraAgentError, KubeError
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import (
    TERMINAL_PHASES,
    AgentRunStatus,
    LedgerEntry,
    RunPhase,
    Trigger,
)
from infraagent.models.common import GROUP_VERSION, Condition, ConditionStatus
from infraagent.operator.run_inputs import (
    RunInputError,
    RunInputs,
    SecretReader,
    SkillFetcher,
    read_agent,
    resolve_inputs,
    secret_from_cluster,
)
from infraagent.operator.runs import KIND, AgentRunRecorder, schedule_lag_ms
from infraagent.ports import Clock, Cluster, ModelProvider, RunOutcome, RunRequest, ToolExecutor
from infraagent.redaction import Redactor
from infraagent.runtime.assemble import agent_input, run_settings
from infraagent.runtime.loop import RunPorts, run_agent
from infraagent.runtime.record import run_status

FAILED: Final = RunPhase.FAILED.value
_MAX_REASON: Final = 64


@dataclass(frozen=True)
class ExecuteDeps:
    """The outside world of run execution, injected by the composition root.

    ``model_for`` builds the provider of the resolved tier and credentials (it may raise an
    ``InfraAgentError``, such as a ``UsageError`` for an unusable key); ``executor_for`` the
    executor that runs tool calls as the agent's identity. ``read_secret`` None reads the
    tier's Secret through ``cluster``; ``fetch_git`` None refuses ``git://`` skills.
    """

    cluster: Cluster
    clock: Clock
    model_for: Callable[[RunInputs], ModelProvider]
    executor_for: Callable[[InfraAgent], ToolExecutor]
    read_secret: SecretReader | None = None
    fetch_git: SkillFetcher | None = None


def execute_run(
    request: RunRequest, deps: ExecuteDeps, started: Callable[[str], None] | None = None
) -> RunOutcome:
    """Run ``request`` to its end in this thread; ``started`` gets the AgentRun's name."""
    try:
        agent = read_agent(deps.cluster, request.agent, request.namespace)
    except RunInputError:
        return RunOutcome(None, FAILED)
    inputs = _resolve(agent, deps)
    model_used = None
    if isinstance(inputs, RunInputs):
        model_used = f"{inputs.tier.provider.value}/{inputs.tier.model}"
    planned = request.scheduled_time or request.requested_time
    try:
        name = AgentRunRecorder(deps.cluster, deps.clock).start(
            agent, Trigger(request.trigger), model_used, planned
        )
    except (KubeError, ValueError):
        return RunOutcome(None, FAILED)
    if started is not None:
        started(name)
    return RunOutcome(name, _finish(name, request.namespace, inputs, deps))


def execute_agent_run(name: str, namespace: str, deps: ExecuteDeps) -> RunOutcome:
    """Execute the existing AgentRun ``namespace/name`` (the Job's pod does this).

    A run that already ended is left alone (its phase is returned). A run whose AgentRun
    cannot be read or written ends with phase Failed and nothing more recorded.
    """
    try:
        run = deps.cluster.get(GROUP_VERSION, KIND, name, namespace)
        phase = (run.get("status") or {}).get("phase")
        if phase in {p.value for p in TERMINAL_PHASES}:
            return RunOutcome(name, str(phase))
        _mark_running(deps, name, namespace, run)
    except KubeError:
        return RunOutcome(name, FAILED)
    agent_name = str((run.get("spec") or {}).get("agentRef", ""))
    try:
        agent = read_agent(deps.cluster, agent_name, namespace)
    except RunInputError as err:
        return RunOutcome(name, _fail(deps, name, namespace, err.reason, err.message))
    return RunOutcome(name, _finish(name, namespace, _resolve(agent, deps), deps))


# --------------------------------------------------------------------------- steps


def _resolve(agent: InfraAgent, deps: ExecuteDeps) -> RunInputs | RunInputError:
    try:
        return resolve_inputs(
            deps.cluster,
            agent,
            read_secret=deps.read_secret or secret_from_cluster(deps.cluster),
            fetch_git=deps.fetch_git,
        )
    except RunInputError as err:
        return err


def _mark_running(deps: ExecuteDeps, name: str, namespace: str, run: Mapping[str, Any]) -> None:
    now = deps.clock.now()
    planned = _parse_time((run.get("spec") or {}).get("scheduledTime"))
    lag = None if planned is None else schedule_lag_ms(planned, now)
    status = AgentRunStatus(phase=RunPhase.RUNNING, startTime=now, scheduleLagMs=lag)
    AgentRunRecorder(deps.cluster, deps.clock).update(name, namespace, status)


def _finish(name: str, namespace: str, inputs: RunInputs | RunInputError, deps: ExecuteDeps) -> str:
    """Run with ``inputs`` (or record why there are none); the terminal phase. Never raises."""
    if isinstance(inputs, RunInputError):
        return _fail(deps, name, namespace, inputs.reason, inputs.message)
    try:
        return _run(name, namespace, inputs, deps)
    except Exception as err:  # a run never crashes its caller: it is recorded
        message = f"the run failed: {type(err).__name__}"
        return _fail(deps, name, namespace, "InternalError", message)


def _run(name: str, namespace: str, inputs: RunInputs, deps: ExecuteDeps) -> str:
    redactor = Redactor.with_values(inputs.secret.values())
    try:
        provider = deps.model_for(inputs)
        executor = deps.executor_for(inputs.agent)
    except InfraAgentError as err:
        message = redactor.redact(f"the model provider cannot be used: {err}")
        return _fail(deps, name, namespace, "ProviderUnavailable", message)
    recorder = AgentRunRecorder(deps.cluster, deps.clock)
    ledger: list[LedgerEntry] = []

    def step(entry: LedgerEntry) -> None:
        ledger.append(entry)
        with contextlib.suppress(KubeError):  # the next step or the end writes it again
            recorder.update(name, namespace, AgentRunStatus(phase=RunPhase.RUNNING, ledger=ledger))

    agent = inputs.agent
    loop_input = agent_input(agent, inputs.environment, inputs.sheets, inputs.instructions)
    ports = RunPorts(provider, executor, redactor, deps.clock, step)
    result = run_agent(loop_input, run_settings(agent, inputs.tier), ports)
    status = run_status(result, inputs.tier)
    recorder.finish(name, namespace, status)
    return status.phase.value if status.phase else FAILED


def _fail(deps: ExecuteDeps, name: str, namespace: str, reason: str, message: str) -> str:
    return fail_run(deps.cluster, deps.clock, name, namespace, reason=reason, message=message)


def fail_run(
    cluster: Cluster, clock: Clock, name: str, namespace: str, *, reason: str, message: str
) -> str:
    """Finish the run Failed with ``reason`` and ``message``; the phase (Failed).

    A run whose status is already final (the API server refuses the change) or cannot be
    written is left as it is: the next leader marks an open one Interrupted.
    """
    now = clock.now()
    condition = Condition(
        type="Complete",
        status=ConditionStatus.FALSE,
        lastTransitionTime=now,
        reason=reason[:_MAX_REASON],
        message=message,
    )
    status = AgentRunStatus(
        phase=RunPhase.FAILED,
        reason=reason[:_MAX_REASON],
        completionTime=now,
        report=f"The run failed: {message}.",
        conditions=[condition],
    )
    with contextlib.suppress(KubeError):
        AgentRunRecorder(cluster, clock).finish(name, namespace, status)
    return FAILED


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
