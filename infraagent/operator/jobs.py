"""``JobLauncher``: each run executed as a Kubernetes Job under the agent's own identity.

``launch`` returns at once; a thread of the launcher then

1. reads the agent and resolves what its run needs (``run_inputs``: environment, skills,
   tier, the key from the tier's Secret), so a missing piece fails the run at once, recorded
   on its AgentRun, without starting a pod;
2. creates the AgentRun (Pending, with its trigger and planned start: the pod's
   ``infraagent run --agent-run`` measures the schedule lag when it starts) and calls
   ``started``;
3. writes the run's access, key Secret and Job (``run_job``), then makes the Job the owner of
   the namespaced ones, so the garbage collector removes them with the Job (its
   ``ttlSecondsAfterFinished``);
4. watches, by polling through the port, until the AgentRun reaches a terminal phase (the pod
   wrote it) or the Job fails, is gone, or completes without a terminal record (the run is
   then marked Failed with the Job's reason), calls ``done`` exactly once, and deletes the
   key Secret and the ClusterRoleBinding at once (when the run is over: a watch stopped by
   ``drain`` leaves them to the Job, whose garbage collection takes the Secret along; the
   ClusterRoleBinding then stays, labelled with the run, until the leader's
   ``process.remove_stale_run_bindings`` finds the run over). A Job that cannot be created
   (or made the owner) fails the run with ``JobNotCreated``, and everything written for it
   is deleted at once: nothing stays behind without an owner.

``drain`` stops the watching (SIGTERM): the Jobs keep running on the cluster and finish
their AgentRuns themselves (a run whose watch stopped is ``done`` with the phase it had).
``job_alive`` is the ``owner_alive`` a new leader gives ``mark_interrupted`` so it does not
mark runs Interrupted that a live Job still executes.
``RunnerSwitch`` sends each run to the in-process launcher or this one, as the agent's
``spec.runner`` says.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from infraagent.errors import KubeError, KubeNotFound
from infraagent.models.agent import Runner
from infraagent.models.agentrun import TERMINAL_PHASES, RunPhase, Trigger
from infraagent.models.common import GROUP_VERSION, parse_duration
from infraagent.models.keys import skill_configmap_name
from infraagent.operator.execute import fail_run
from infraagent.operator.process import RunKey
from infraagent.operator.run_inputs import (
    RunInputError,
    RunInputs,
    SkillFetcher,
    read_agent,
    resolve_inputs,
    secret_from_cluster,
)
from infraagent.operator.run_job import (
    JobSettings,
    cluster_binding_name,
    key_env,
    key_secret,
    key_secret_name,
    run_access,
    run_job,
)
from infraagent.operator.run_pool import InProcessLauncher
from infraagent.operator.runs import KIND, new_agentrun
from infraagent.ports import Clock, Cluster, RunLauncher, RunOutcome, RunRequest

Started = Callable[[RunRequest, str], None]
Done = Callable[[RunRequest, RunOutcome], None]
_TERMINAL: Final = frozenset(p.value for p in TERMINAL_PHASES)
_FAILED: Final = RunPhase.FAILED.value
_RBAC_API: Final = "rbac.authorization.k8s.io/v1"


class JobLauncher:
    """Launches runs as Jobs and watches them (see the module docstring).

    ``pause(seconds)`` waits between polls and returns True when watching should stop; the
    default waits on the launcher's stop event (set by ``drain``).
    """

    def __init__(
        self,
        cluster: Cluster,
        clock: Clock,
        settings: JobSettings,
        *,
        poll_seconds: float = 2.0,
        fetch_git: SkillFetcher | None = None,
        pause: Callable[[float], bool] | None = None,
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._settings = settings
        self._poll = poll_seconds
        self._fetch_git = fetch_git
        self._stop = threading.Event()
        self._pause = pause or self._stop.wait
        self._lock = threading.Lock()
        self._open: set[RunKey] = set()
        self._threads: list[threading.Thread] = []

    @property
    def open_runs(self) -> frozenset[RunKey]:
        """The runs whose Jobs this launcher is watching, as ``(namespace, name)``."""
        with self._lock:
            return frozenset(self._open)

    def launch(self, request: RunRequest, started: Started, done: Done) -> None:
        """Start launching ``request`` in a thread of its own; returns at once."""
        thread = threading.Thread(
            target=self._launch, args=(request, started, done), name="run-job", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def drain(self, timeout: float) -> frozenset[RunKey]:
        """Stop watching; the runs left, which their Jobs go on executing."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        return self.open_runs

    def _launch(self, request: RunRequest, started: Started, done: Done) -> None:
        outcome = RunOutcome(None, _FAILED)
        try:
            outcome = self._start(request, started, done)
        except Exception:  # done exactly once, whatever happened
            outcome = RunOutcome(outcome.run_name, _FAILED)
        finally:
            done(request, outcome)

    def _start(self, request: RunRequest, started: Started, done: Done) -> RunOutcome:
        namespace = request.namespace
        try:
            agent = read_agent(self._cluster, request.agent, namespace)
        except RunInputError:
            return RunOutcome(None, _FAILED)
        inputs: RunInputs | RunInputError
        try:
            inputs = resolve_inputs(
                self._cluster,
                agent,
                read_secret=secret_from_cluster(self._cluster),
                fetch_git=self._fetch_git,
            )
            model_used: str | None = f"{inputs.tier.provider.value}/{inputs.tier.model}"
        except RunInputError as err:
            inputs, model_used = err, None
        planned = request.scheduled_time or request.requested_time
        manifest = new_agentrun(agent, Trigger(request.trigger), model_used, planned, namespace)
        try:
            run = str(self._cluster.create(manifest)["metadata"]["name"])
        except KubeError:
            return RunOutcome(None, _FAILED)
        with contextlib.suppress(Exception):  # the caller's bug must not abandon the run
            started(request, run)
        if isinstance(inputs, RunInputError):
            reason, message = inputs.reason, inputs.message
            return RunOutcome(run, self._fail(run, namespace, reason, message))
        return RunOutcome(run, self._run_job(inputs, run, namespace))

    def _run_job(self, inputs: RunInputs, run: str, namespace: str) -> str:
        """Create the Job and watch it; the phase the run ended with (or had when the watch
        stopped). The key and the cluster-wide binding go once the run is over."""
        key = (namespace, run)
        with self._lock:
            self._open.add(key)
        try:
            self._create_job(inputs, run, namespace)
        except KubeError as err:
            phase = self._fail(run, namespace, "JobNotCreated", str(err))
        else:
            phase = self._watch(run, namespace)
        finally:
            with self._lock:
                self._open.discard(key)
        if phase in _TERMINAL:
            self._clean_up(run, namespace)
        return phase

    def _create_job(self, inputs: RunInputs, run: str, namespace: str) -> None:
        agent = inputs.agent
        name = agent.metadata.name or ""
        configmaps = [
            skill_configmap_name(ref.name)
            if ref.parsed_source.kind == "repo"
            else ref.parsed_source.configmap or ""
            for ref in agent.spec.skills
            if ref.parsed_source.kind != "git"
        ]
        owned = run_access(name, agent.spec.environmentRef, run, namespace, configmaps)
        auth, variable = inputs.auth, None
        api_key = inputs.secret.get(auth.secretKey) if auth is not None else None
        if api_key:
            variable = key_env(inputs.tier.provider)
            owned.append(key_secret(name, run, namespace, api_key))
        timeout = int(parse_duration(agent.spec.model.timeout).total_seconds())
        try:
            # Suspended until what it needs exists, each piece created owned by it: created,
            # never patched, so the operator needs no right to patch Secrets (a patch would
            # return any Secret's data).
            job = self._cluster.create(
                run_job(name, run, namespace, self._settings, timeout_seconds=timeout,
                        key_variable=variable, suspend=True)
            )  # fmt: skip
            reference = _owner(job)
            for obj in owned:
                if obj["metadata"].get("namespace") == namespace:
                    self._cluster.create(_owned_by(obj, reference))
                else:  # cluster-scoped (the shared reader role, the run's binding): no owner
                    self._cluster.apply(obj)
            self._cluster.patch("batch/v1", "Job", run, {"spec": {"suspend": False}}, namespace)
        except KubeError:
            self._remove_run_objects(run, namespace)
            raise

    def _remove_run_objects(self, run: str, namespace: str) -> None:
        """Undo a launch that failed half-way: the Job (if it was created) and everything
        written for it, which would otherwise stay without an owner."""
        with contextlib.suppress(KubeError):
            self._cluster.delete("batch/v1", "Job", run, namespace, propagation="Background")
        for kind in ("RoleBinding", "Role"):
            with contextlib.suppress(KubeError):
                self._cluster.delete(_RBAC_API, kind, run, namespace)
        self._clean_up(run, namespace)

    def _watch(self, run: str, namespace: str) -> str:
        phase: str | None = None
        while True:
            try:
                phase = self._phase(run, namespace)
                if phase in _TERMINAL:
                    return phase
                failure = self._job_failure(run, namespace)
                if failure is not None:
                    return self._fail(run, namespace, *failure)
            except KubeNotFound:
                return _FAILED  # the AgentRun itself was deleted: nothing left to record
            except KubeError:
                pass  # a passing API error: look again at the next poll
            if self._pause(self._poll):
                return phase or RunPhase.PENDING.value

    def _job_failure(self, run: str, namespace: str) -> tuple[str, str] | None:
        """(reason, message) when the Job can no longer finish the run; None while it can."""
        try:
            job = self._cluster.get("batch/v1", "Job", run, namespace)
        except KubeNotFound:
            job = {"metadata": {"deletionTimestamp": "gone"}}
        if (job.get("metadata") or {}).get("deletionTimestamp"):
            return "JobGone", f"the Job {namespace}/{run} was deleted before the run finished"
        for condition in (job.get("status") or {}).get("conditions") or []:
            if condition.get("status") != "True":
                continue
            if condition.get("type") == "Failed":
                why = condition.get("reason") or "Failed"
                return "JobFailed", f"the Job failed ({why}): {condition.get('message', '')}"
            if condition.get("type") == "Complete":
                if self._phase(run, namespace) in _TERMINAL:
                    return None  # it finished between the two reads
                return "JobFailed", "the Job completed without finishing the run's record"
        return None

    def _phase(self, run: str, namespace: str) -> str | None:
        status = self._cluster.get(GROUP_VERSION, KIND, run, namespace).get("status") or {}
        phase = status.get("phase")
        return str(phase) if phase else None

    def _fail(self, run: str, namespace: str, reason: str, message: str) -> str:
        return fail_run(self._cluster, self._clock, run, namespace, reason=reason, message=message)

    def _clean_up(self, run: str, namespace: str) -> None:
        """Remove the key and the cluster-wide binding as soon as the run is over."""
        with contextlib.suppress(KubeError):
            self._cluster.delete("v1", "Secret", key_secret_name(run), namespace)
        with contextlib.suppress(KubeError):
            binding = cluster_binding_name(namespace, run)
            self._cluster.delete(_RBAC_API, "ClusterRoleBinding", binding)


def job_alive(cluster: Cluster) -> Callable[[dict[str, Any]], bool]:
    """For ``mark_interrupted``: whether a run's Job exists, is not being deleted (its
    launcher's watch counts that as gone too) and has not finished."""

    def alive(run: dict[str, Any]) -> bool:
        meta = run.get("metadata") or {}
        try:
            job = cluster.get("batch/v1", "Job", str(meta.get("name")), meta.get("namespace"))
        except KubeNotFound:
            return False  # other errors propagate: the caller retries rather than guesses
        if (job.get("metadata") or {}).get("deletionTimestamp"):
            return False
        conditions = (job.get("status") or {}).get("conditions") or []
        return not any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in conditions
        )

    return alive


def _owner(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "uid": meta["uid"],
        "blockOwnerDeletion": False,
    }


def _owned_by(obj: Mapping[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    meta = {**obj["metadata"], "ownerReferences": [reference]}
    return {**obj, "metadata": meta}


class RunnerSwitch:
    """A ``RunLauncher`` that sends each run where its agent's ``spec.runner`` says.

    ``job`` agents go to ``job``, everything else (``inprocess``, and an agent that cannot be
    read, which ``inprocess`` then records as a failed launch) to ``inprocess``.
    ``open_runs`` are the in-process ones (those ``process.stand_down`` must close: Jobs go
    on without this process); ``drain`` drains both.
    """

    def __init__(self, cluster: Cluster, inprocess: InProcessLauncher, job: JobLauncher) -> None:
        self._cluster = cluster
        self._inprocess = inprocess
        self._job = job

    @property
    def open_runs(self) -> frozenset[RunKey]:
        """The runs executing in this process, as ``(namespace, name)``."""
        return self._inprocess.open_runs

    def launch(self, request: RunRequest, started: Started, done: Done) -> None:
        """Delegate ``request`` to the launcher of its agent's runner."""
        try:
            agent = self._cluster.get(GROUP_VERSION, "InfraAgent", request.agent, request.namespace)
        except KubeError:
            agent = {}
        runner = (agent.get("spec") or {}).get("runner")
        target: RunLauncher = self._job if runner == Runner.JOB.value else self._inprocess
        target.launch(request, started, done)

    def drain(self, timeout: float) -> frozenset[RunKey]:
        """Drain both launchers; the in-process runs still open (see ``open_runs``)."""
        self._job.drain(timeout)
        return self._inprocess.drain(timeout)
