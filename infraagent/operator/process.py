"""The leader's duties: what an operator replica does while, and only while, it holds the Lease.

Leader election itself (the Lease, renewals, stepping down) lives in the Kubernetes adapter
and is wired in by the command line; this module is what its callbacks run, through
``ports.Cluster`` and a ``Clock`` only.

- ``take_over``: the moment a replica becomes leader, before it takes any work: close the
  runs a previous leader left open (``mark_interrupted``: that leader is gone), except those
  ``owner_alive`` says something still executes (a live Job: the main job passes
  ``jobs.job_alive``), remove the per-run ClusterRoleBindings of runs that are over or gone
  (``remove_stale_run_bindings``: a launcher that was drained or died mid-run leaves them),
  then put the admission policy back to exactly what InfraAgent installs
  (``ensure_admission_policy``).
- ``stand_down``: when it stops leading (SIGTERM, or the Lease lost): the runs *this*
  process still has open are recorded as ``Interrupted`` with the same recorder function, so
  no record stays ``Running``. Today a replica executes no runs (the scheduler comes later),
  so the set it passes is empty and nothing is written.
- ``Leadership``: the two above plus a resync loop (``ensure_admission_policy`` and
  ``remove_stale_run_bindings`` every ``resync_every``) in a thread of their own, so the
  elector's renewals never wait for cluster work. ``started`` and ``stopped`` are the
  elector's callbacks; ``accepting`` says whether new runs may be taken (cleared first thing
  on stop).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from infraagent.errors import KubeError, KubeNotFound
from infraagent.models.agentrun import TERMINAL_PHASES
from infraagent.models.common import GROUP_VERSION
from infraagent.operator.admission import ensure_admission_policy
from infraagent.operator.run_job import RUN_LABEL, cluster_binding_name
from infraagent.operator.runs import KIND, mark_interrupted
from infraagent.ports import Clock, Cluster

RunKey = tuple[str, str]  # (namespace, name) of an AgentRun
OwnerAlive = Callable[[dict[str, Any]], bool]  # an AgentRun object -> still executing?
_RBAC_API: Final = "rbac.authorization.k8s.io/v1"
_TERMINAL: Final = frozenset(p.value for p in TERMINAL_PHASES)


@dataclass(frozen=True, slots=True)
class TakeOver:
    """What ``take_over`` did: the runs it closed and the outcome per policy object."""

    interrupted: list[str]
    policy: list[tuple[str, str]]
    bindings: list[str] = field(default_factory=list)


def take_over(cluster: Cluster, now: datetime, owner_alive: OwnerAlive | None = None) -> TakeOver:
    """Close the runs a previous leader left open, then make the admission policy whole.

    ``owner_alive`` (a run object → whether something still executes it) spares those runs;
    None: every open run is orphaned.
    """
    if owner_alive is None:
        interrupted = mark_interrupted(cluster, now=now)
    else:
        interrupted = mark_interrupted(cluster, now=now, owner_alive=owner_alive)
    bindings = remove_stale_run_bindings(cluster)
    return TakeOver(interrupted, ensure_admission_policy(cluster), bindings)


def remove_stale_run_bindings(cluster: Cluster) -> list[str]:
    """Delete the per-run ClusterRoleBindings whose AgentRun is terminal or gone; their names.

    A run's binding (``run_job.cluster_binding_name``, labelled ``RUN_LABEL``) is removed by
    its launcher when the run ends; one drained or killed mid-run leaves it. A run still
    Pending or Running keeps its binding (its Job may still read the ModelTierConfigs). A
    binding whose name does not follow the pattern is not ours to judge and is left alone.
    """
    removed: list[str] = []
    listing = cluster.list(_RBAC_API, "ClusterRoleBinding", label_selector=RUN_LABEL)
    for binding in listing.items:
        name = str((binding.get("metadata") or {}).get("name", ""))
        run = _run_of_binding(name)
        if run is None or not _run_over(cluster, *run):
            continue
        with contextlib.suppress(KubeNotFound):
            cluster.delete(_RBAC_API, "ClusterRoleBinding", name)
        removed.append(name)
    return removed


def _run_of_binding(name: str) -> RunKey | None:
    """``(namespace, run)`` of a per-run binding's name; None for any other name."""
    parts = name.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        return None
    if cluster_binding_name(parts[1], parts[2]) != name:
        return None
    return (parts[1], parts[2])


def _run_over(cluster: Cluster, namespace: str, run: str) -> bool:
    try:
        obj = cluster.get(GROUP_VERSION, KIND, run, namespace)
    except KubeNotFound:
        return True
    return (obj.get("status") or {}).get("phase") in _TERMINAL


def _key(run: Mapping[str, Any]) -> RunKey:
    meta = run.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def stand_down(cluster: Cluster, own_runs: Collection[RunKey], now: datetime) -> list[str]:
    """Record the runs this process still has open as Interrupted; their names.

    Runs of other processes are spared. No open runs: nothing is read or written.
    """
    if not own_runs:
        return []
    mine = frozenset(own_runs)
    return mark_interrupted(cluster, now=now, owner_alive=lambda run: _key(run) not in mine)


@dataclass
class Leadership:
    """The leader's duties in a worker thread, started and stopped by the elector's callbacks.

    ``report`` receives one line per thing done or failed (the command line prints them).
    Cluster errors are reported and retried at the next resync, never raised.
    ``owner_alive`` is handed to ``take_over`` (the main job: ``jobs.job_alive(cluster)``).
    """

    cluster: Cluster
    clock: Clock
    resync_every: timedelta
    report: Callable[[str], None]
    own_runs: set[RunKey] = field(default_factory=set)
    owner_alive: OwnerAlive | None = None
    _accepting: threading.Event = field(default_factory=threading.Event)
    _halt: threading.Event = field(default_factory=threading.Event)
    _worker: threading.Thread | None = None

    @property
    def accepting(self) -> bool:
        """Whether new runs may be taken: only while leading and not stopping."""
        return self._accepting.is_set()

    def started(self) -> None:
        """The elector's ``on_started_leading``: start the duties and return at once."""
        self._halt = threading.Event()
        self._worker = threading.Thread(target=self._lead, name="leader-duties", daemon=True)
        self._worker.start()

    def stopped(self, join_timeout: float = 10.0) -> None:
        """The elector's ``on_stopped_leading``: stop taking work, end the duties, record runs."""
        self._accepting.clear()
        self._halt.set()
        if self._worker is not None:
            self._worker.join(join_timeout)
            self._worker = None
        self._accepting.clear()  # the worker may have set it while it was being stopped
        try:
            closed = stand_down(self.cluster, sorted(self.own_runs), self.clock.now())
        except KubeError as err:
            self.report(f"recording the open runs failed: {err}")
            return
        self.own_runs.clear()
        self.report(f"runs interrupted on stop: {len(closed)}")

    def _lead(self) -> None:
        taken = False
        while True:
            if taken:
                self._try(self._resync)
            elif taken := self._try(self._take_over):
                self._accepting.set()
            if self._halt.wait(self.resync_every.total_seconds()):
                return

    def _take_over(self) -> None:
        result = take_over(self.cluster, self.clock.now(), self.owner_alive)
        self.report(f"runs interrupted on take-over: {len(result.interrupted)}")
        self.report("admission policy: " + _outcomes(result.policy))
        if result.bindings:
            self.report(f"bindings of finished runs removed: {len(result.bindings)}")

    def _resync(self) -> None:
        outcomes = ensure_admission_policy(self.cluster)
        if any(outcome != "unchanged" for _, outcome in outcomes):
            self.report("admission policy: " + _outcomes(outcomes))
        bindings = remove_stale_run_bindings(self.cluster)
        if bindings:
            self.report(f"bindings of finished runs removed: {len(bindings)}")

    def _try(self, duty: Callable[[], None]) -> bool:
        try:
            duty()
        except KubeError as err:
            self.report(f"{duty.__name__.strip('_').replace('_', ' ')} failed: {err}")
            return False
        return True


def _outcomes(outcomes: list[tuple[str, str]]) -> str:
    return ", ".join(f"{what} {outcome}" for what, outcome in outcomes)
