"""The leader's scheduling loop: feeds the ``Scheduler`` from the cluster and acts on it.

``SchedulingLoop`` is what the leader runs, through ports only:

- It keeps the scheduler fed: ``resync`` lists InfraAgents (in ``namespace``, or in every
  one) at the first tick and every ``resync_every``, and ``feed`` takes watch events (the
  composition root passes those of ``adapters.kube.watch``; this module imports no adapter).
- It takes the run-now annotation (``RUN_NOW_ANNOTATION``, any value) once per object
  version: a manual request, then a metadata merge patch that removes the annotation. The
  result is reported either way (a paused or rate-limited agent does not keep the
  annotation around to fire later by surprise).
- ``tick`` starts the due runs with ``RunLauncher.launch`` while ``accepting()`` is true and
  writes each agent's status with ``Cluster.patch_status``, only when it differs from what
  the cluster holds. The launcher's ``started`` and ``done`` callbacks come from other
  threads; the scheduler is behind a lock, and cluster I/O happens outside it.
- ``request_run`` is the webhook receiver's entry (``retry_after`` says how long a refused
  caller should wait).
- ``run(stop)`` ticks until ``stop`` is set, waiting with the injected ``wait(seconds)``
  (tests step a fake clock there) until the next planned run or ``tick_every``; the default
  wait wakes early when a run ends or a run is requested.

Wiring (the composition root): ``accepting=lambda: leadership.accepting`` (``process``),
``feed(event.type, event.object)`` for each ``Watcher`` event on InfraAgents, the
``InProcessLauncher`` (or the Job launcher) as ``launcher``, and ``run(stop)`` in the
leader's thread. Cluster errors are reported through ``report`` and retried at the next
tick, never raised.
Deliberately not here: the decisions (``operator.scheduler``), executing runs (the
launcher), leader election, and Events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, Literal

from infraagent.errors import KubeError, KubeNotFound
from infraagent.models.keys import RUN_NOW_ANNOTATION
from infraagent.operator.scheduler import (
    MANUAL,
    WEBHOOK,
    AgentKey,
    RequestResult,
    Scheduler,
)
from infraagent.ports import Clock, Cluster, RunLauncher, RunOutcome, RunRequest

API_VERSION: Final = "core.infraagent.io/v1alpha1"
KIND: Final = "InfraAgent"
Wait = Callable[[float], object]
Outcome = Literal["done", "gone", "failed"]


def _key(obj: Mapping[str, Any]) -> AgentKey:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class SchedulingLoop:
    """Drives a ``Scheduler`` against the cluster; see the module docstring."""

    def __init__(
        self,
        cluster: Cluster,
        launcher: RunLauncher,
        clock: Clock,
        *,
        accepting: Callable[[], bool] = lambda: True,
        scheduler: Scheduler | None = None,
        wait: Wait | None = None,
        resync_every: timedelta = timedelta(minutes=5),
        tick_every: timedelta = timedelta(seconds=10),
        report: Callable[[str], None] = lambda _line: None,
        namespace: str | None = None,
    ) -> None:
        self.cluster, self.launcher, self.clock = cluster, launcher, clock
        self.namespace = namespace  # None: agents of every namespace
        self.requests_only = False  # True: start requested runs only, never scheduled ones
        self.scheduler = scheduler or Scheduler()
        self.accepting, self.report = accepting, report
        self.resync_every, self.tick_every = resync_every, tick_every
        self._wait = wait or self._wait_for_wake
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._written: dict[AgentKey, dict[str, Any]] = {}
        self._taken: dict[AgentKey, str] = {}  # the resourceVersion whose run-now was taken
        self._last_resync: datetime | None = None
        self._retry: set[AgentKey] = set()  # statuses whose write failed: written next tick

    # ----------------------------------------------------------------- feeding

    def resync(self) -> None:
        """List every InfraAgent; add or update each, forget the ones that are gone."""
        listing = self.cluster.list(API_VERSION, KIND, self.namespace)
        now = self.clock.now()
        self._last_resync = now
        seen = {self._take(item, now) for item in listing.items}
        with self._lock:
            for key in self.scheduler.known():
                if key not in seen:
                    self._forget(key)

    def feed(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """One watch event: ``ADDED``/``MODIFIED`` update, ``DELETED`` forgets; others ignored
        (and so are agents outside ``namespace``, when one is set)."""
        if self.namespace is not None and _key(obj)[0] != self.namespace:
            return
        if event_type in ("ADDED", "MODIFIED"):
            self._take(obj, self.clock.now())
        elif event_type == "DELETED":
            with self._lock:
                self._forget(_key(obj))
        self._wake.set()

    def request_run(self, namespace: str, name: str, trigger: str = WEBHOOK) -> RequestResult:
        """Ask for a run of one agent now (``webhook`` or ``manual``); what became of it."""
        with self._lock:
            result = self.scheduler.request((namespace, name), trigger, self.clock.now())
        self._wake.set()
        return result

    def retry_after(self, namespace: str, name: str) -> timedelta | None:
        """For a rate-limited agent: how long until a request could be accepted."""
        with self._lock:
            return self.scheduler.retry_after((namespace, name), self.clock.now())

    # ----------------------------------------------------------------- acting

    def tick(self) -> list[RunRequest]:
        """Resync when it is time, start what is due, write the statuses that changed."""
        now = self.clock.now()
        if self._last_resync is None or now - self._last_resync >= self.resync_every:
            self._try("listing agents", self.resync)
        with self._lock:
            requests = (
                self.scheduler.due(self.clock.now(), requests_only=self.requests_only)
                if self.accepting()
                else []
            )
        for request in requests:
            self.launcher.launch(request, self._started, self._done)
        self.write_statuses()
        return requests

    def write_statuses(self) -> int:
        """Patch the status of each agent whose status changed; how many were written.

        Only agents the scheduler touched since the last call are compared (and those whose
        last write failed), so an idle tick costs next to nothing with many agents.
        """
        with self._lock:
            keys, self._retry = self.scheduler.touched() | self._retry, set()
            changed = []
            for key in keys:
                status = self.scheduler.status(key)
                if status != self._written.get(key):
                    changed.append((key, status))
        written = 0
        for (namespace, name), status in changed:
            outcome = self._try(
                f"writing the status of {namespace}/{name}",
                partial(self.cluster.patch_status, API_VERSION, KIND, name, status, namespace),
            )
            with self._lock:
                if outcome == "done":
                    self._written[(namespace, name)] = status
                    written += 1
                elif outcome == "failed":
                    self._retry.add((namespace, name))
        return written

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            self.tick()
            if stop.is_set():
                return
            self._wait(self._pause())

    def wake(self) -> None:
        """End the current default wait early (for a stop, or new work)."""
        self._wake.set()

    # ----------------------------------------------------------------- internals

    def _take(self, obj: Mapping[str, Any], now: datetime) -> AgentKey:
        meta = obj.get("metadata") or {}
        with self._lock:
            first = _key(obj) not in self._written
            key = self.scheduler.upsert(obj, now)
            if first:
                self._written[key] = _as_written(obj.get("status"), self.scheduler.status(key))
            annotations = meta.get("annotations") or {}
            version = str(meta.get("resourceVersion") or "")
            if RUN_NOW_ANNOTATION not in annotations or self._taken.get(key) == version:
                return key
            self._taken[key] = version
            result = self.scheduler.request(key, MANUAL, now)
        self.report(f"run-now on {key[0]}/{key[1]}: {result.value}")
        patch = {"metadata": {"annotations": {RUN_NOW_ANNOTATION: None}}}
        self._try(
            f"clearing run-now on {key[0]}/{key[1]}",
            lambda: self.cluster.patch(API_VERSION, KIND, key[1], patch, key[0]),
        )
        return key

    def _forget(self, key: AgentKey) -> None:
        self.scheduler.remove(key)
        self._written.pop(key, None)
        self._taken.pop(key, None)

    def _started(self, request: RunRequest, run_name: str) -> None:
        with self._lock:
            self.scheduler.started((request.namespace, request.agent), run_name, self.clock.now())

    def _done(self, request: RunRequest, outcome: RunOutcome) -> None:
        with self._lock:
            self.scheduler.finished((request.namespace, request.agent), outcome, self.clock.now())
        self._wake.set()

    def _pause(self) -> float:
        """Seconds to wait: until the next planned run, at most ``tick_every``."""
        limit = self.tick_every.total_seconds()
        with self._lock:
            upcoming = self.scheduler.next_wakeup()
        now = self.clock.now()
        if upcoming is None or upcoming <= now:  # nothing planned, or held by a limit
            return limit
        return min(limit, (upcoming - now).total_seconds())

    def _wait_for_wake(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _try(self, what: str, action: Callable[[], object]) -> Outcome:
        try:
            action()
        except KubeNotFound:
            return "gone"  # deleted meanwhile: the watch or the next resync forgets it
        except KubeError as err:
            self.report(f"{what} failed: {err}")
            return "failed"
        return "done"


def _as_written(status: object, ours: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``ours`` as the cluster holds them now (missing ones as None)."""
    held = status if isinstance(status, Mapping) else {}
    return {name: held.get(name) for name in ours}
