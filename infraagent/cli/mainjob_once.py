"""One pass of the main job (``infraagent reconcile --once``), and what it shows.

The pass: reconcile every source once; give every agent its identity; ask for one run of
every agent (a ``manual`` request through the scheduler, so the concurrency and rate limits
hold as for any run; paused or stalled agents are reported, not run); tick the scheduler
until every accepted run has ended; commit the summaries of the finished runs in one
commit; then print a table of the runs (agent, phase, decisions, tokens, cost), the
proposals waiting for a human, where the summaries are, and what to do next.

The exit status, for a CI job: 0 when every definition applied and every run succeeded (or
escalated, as designed); 1 when a definition failed, a run failed, or the summaries could
not be committed; 2 when a fleet could not be fetched at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from infraagent.adapters.git.local import branch_files
from infraagent.cli.fleet import exit_status, print_result
from infraagent.cli.mainjob import MainJob, Say, agents_of
from infraagent.cli.mainjob_metrics import record_publishing
from infraagent.cli.mainjob_publish import summary_lines
from infraagent.errors import KubeError
from infraagent.models.common import parse_duration
from infraagent.operator.process import stand_down
from infraagent.operator.scheduler import RequestResult
from infraagent.ports import RunOutcome, RunRequest
from infraagent.reconciler.context import ReconcileResult
from infraagent.redaction import Redactor

_OK_PHASES: Final = frozenset({"Succeeded", "Escalated"})
_MANUAL: Final = "manual"
_DRAIN_SECONDS: Final = 10.0


@dataclass
class _Tracker:
    """Wraps the launcher: remembers each run's name and outcome; says when all ended."""

    inner: Any
    say: Say
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], RunOutcome] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Event = field(default_factory=threading.Event)

    def launch(
        self,
        request: RunRequest,
        started: Callable[[RunRequest, str], None],
        done: Callable[[RunRequest, RunOutcome], None],
    ) -> None:
        key = (request.namespace, request.agent)

        def on_started(req: RunRequest, name: str) -> None:
            with self._lock:
                self.names[key] = name
            started(req, name)

        def on_done(req: RunRequest, outcome: RunOutcome) -> None:
            done(req, outcome)
            with self._lock:
                self.outcomes[key] = outcome
            self.say(f"  {req.agent:<24} {outcome.phase:<10} {outcome.run_name or '-'}")
            self._changed.set()

        self.inner.launch(request, on_started, on_done)

    def wait_all(
        self, expected: set[tuple[str, str]], tick: Callable[[], object], timeout: float
    ) -> bool:
        """Tick until the runs of every ``expected`` agent have ended (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tick()
            with self._lock:
                if expected <= set(self.outcomes):
                    return True
            self._changed.wait(0.5)
            self._changed.clear()
        return False


def run_once(job: MainJob, say: Say, *, run_agents: bool = True) -> int:
    """The pass described in the module docstring; the exit status."""
    say("Reconciling the fleet ...")
    results = job.reconcile.run_due()
    for result in results:
        if run_agents:
            _show_reconcile(result, say)
        else:
            print_result(result)
    status = exit_status(results)
    if status == 2 or not run_agents:
        return status
    agents = agents_of(job)
    sync = job.identities.sync()
    say(f"Identities: {len(sync.applied)} agents given their ServiceAccount and RBAC")
    tracker = _Tracker(job.launcher, say)
    job.scheduling.launcher = tracker
    job.scheduling.requests_only = True  # each agent once, whatever its schedule says
    accepted = _request_all(job, agents, say)
    if accepted:
        say(f"Running {len(accepted)} agents once ({_model_line(job)}) ...")
        timeout = max(_timeout(a) for a in agents) + 120.0
        if not tracker.wait_all(accepted, job.scheduling.tick, timeout):
            say("Some runs did not end in time: they are recorded as Interrupted")
    _close(job)
    job.scheduling.write_statuses()
    runs = _runs(job, tracker)
    published = _publish(job, say)
    _show_runs(runs, say)
    _show_proposals(runs, say)
    _show_summaries(job, published, say)
    failed = [r for r in runs if _phase(r) not in _OK_PHASES]
    return max(status, 1 if failed or published is False else 0)


def _request_all(
    job: MainJob, agents: Sequence[Mapping[str, Any]], say: Say
) -> set[tuple[str, str]]:
    """Ask for one manual run of each agent; the agents whose request was accepted."""
    job.scheduling.resync()
    accepted = set()
    for agent in agents:
        meta = agent.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        result = job.scheduling.request_run(namespace, name, _MANUAL)
        if result is RequestResult.ACCEPTED:
            accepted.add((namespace, name))
        else:
            say(f"  {name:<24} not run: {result.value}")
    return accepted


def _close(job: MainJob) -> None:
    """Nothing outlives the pass: runs still open after a short drain are Interrupted."""
    still_open = job.launcher.drain(_DRAIN_SECONDS)
    if still_open:
        stand_down(job.kube, sorted(still_open), job.clock.now())


def _timeout(agent: Mapping[str, Any]) -> float:
    """The agent's run timeout in seconds (its model's ``timeout``, 300 s by default)."""
    raw = ((agent.get("spec") or {}).get("model") or {}).get("timeout", "300s")
    try:
        return parse_duration(str(raw)).total_seconds()
    except ValueError:
        return 300.0


def _model_line(job: MainJob) -> str:
    if job.models.source.value == "scripted" or not job.models.known_secrets:
        return "scripted model: no API key is set"
    return f"model source: {job.models.source.value}"


def _runs(job: MainJob, tracker: _Tracker) -> list[dict[str, Any]]:
    runs = []
    for (namespace, _agent), name in sorted(tracker.names.items()):
        try:
            runs.append(job.kube.get("core.infraagent.io/v1alpha1", "AgentRun", name, namespace))
        except KubeError as err:
            job.scheduling.report(f"AgentRun {namespace}/{name} unreadable: {err}")
    return runs


def _publish(job: MainJob, say: Say) -> str | bool | None:
    """The new commit of the first target, None when nothing was new, False on a failure."""
    redactor = Redactor.with_values(job.models.known_secrets)
    outcomes = job.publishing.publish(redactor)
    record_publishing(job.metrics, outcomes)
    for line in summary_lines(outcomes):
        if "not committed" in line:
            say(line)
    if any(isinstance(outcome, str) for _, outcome in outcomes):
        return False
    commits = [o.commit for _, o in outcomes if not isinstance(o, str) and o.commit]
    return commits[0] if commits else None


def _show_reconcile(result: ReconcileResult, say: Say) -> None:
    revision = (result.revision or "-")[:12]
    say(
        f"  {result.source}: {result.outcome} at {revision}: {result.applied} written, "
        f"{result.unchanged} unchanged, {result.pruned} pruned, {len(result.failed_files)} failed"
    )
    for problem in result.status.errors or []:
        say(f"    {problem.file}:{problem.line or '-'}: {problem.message}")
    if result.message and result.outcome != "applied":
        say(f"    {result.message}")


def _phase(run: Mapping[str, Any]) -> str:
    return str((run.get("status") or {}).get("phase") or "Unknown")


def _decisions(run: Mapping[str, Any]) -> str:
    counts = {"allow": 0, "propose": 0, "deny": 0}
    for entry in (run.get("status") or {}).get("ledger") or []:
        decision = str(entry.get("decision", ""))
        if decision in counts:
            counts[decision] += 1
    return f"{counts['allow']}/{counts['propose']}/{counts['deny']}"


def _show_runs(runs: Sequence[Mapping[str, Any]], say: Say) -> None:
    say("")
    say("AgentRuns (kubectl get agentruns):")
    header = f"  {'AGENT':<24} {'PHASE':<10} {'ALLOW/PROPOSE/DENY':<19} {'TOKENS':>7} {'COST':>9}"
    say(header + "  RUN")
    for run in runs:
        spec, status = run.get("spec") or {}, run.get("status") or {}
        usage = status.get("usage") or {}
        say(
            f"  {spec.get('agentRef', '?')!s:<24} {_phase(run):<10} {_decisions(run):<19} "
            f"{int(usage.get('totalTokens', 0)):>7} {'$' + str(usage.get('estimatedCost', '0')):>9}"
            f"  {run['metadata']['name']}"
        )


def _show_proposals(runs: Sequence[Mapping[str, Any]], say: Say) -> None:
    proposals = [
        (str((run.get("spec") or {}).get("agentRef", "?")), proposal)
        for run in runs
        for proposal in (run.get("status") or {}).get("proposals") or []
    ]
    say("")
    if not proposals:
        say("Proposals: none (no agent asked for more than its autonomy allows)")
        return
    say(f"Proposals waiting for a human ({len(proposals)}):")
    for agent, proposal in proposals:
        what = "; ".join(proposal.get("requests") or []) or proposal.get("tool", "?")
        say(f"  {agent}: {what} [{proposal.get('tier', '?')}]")
        rationale = str(proposal.get("rationale") or "").strip().splitlines()
        if rationale:
            say(f"    why: {rationale[0][:160]}")


def _show_summaries(job: MainJob, published: str | bool | None, say: Say) -> None:
    say("")
    if published is False or not job.publishing.targets():
        return
    branch = job.plan.runs_branch
    if published is None:
        say(f"Run summaries: nothing new to commit on {branch}")
        return
    say(f"Run summaries committed to {branch}: {str(published)[:12]}")
    if job.plan.clone is not None:
        tip = branch_files(job.plan.clone, branch)
        for path in tip.files if tip else ():
            say(f"  {path}")
        say(f"  see them with: git --git-dir {job.plan.clone} log --stat {branch}")


def next_steps(local: bool, say: Say) -> None:
    """What to do next, after a pass."""
    say("")
    say("Next:")
    if local:
        say("  - The local control plane stops with this command. To run the fleet on a real")
        say("    cluster: infraagent install --kubeconfig FILE --context CTX, then")
        say("    infraagent reconcile --kubeconfig FILE --context CTX --repo URL")
    say("  - To use a real model, put the key in the environment (ANTHROPIC_API_KEY or")
    say("    OPENAI_API_KEY); on a cluster, in the Secret the ModelTierConfig names")
    say("    (environments/model-tiers.yaml: infraagent-system/llm-api-key).")
    say("  - Without --once the command keeps serving: agents run on their schedules and each")
    say("    run's summary is committed to the runs branch.")
