"""``InProcessLauncher``: runs executed in the operator's own process, a bounded number at once.

A ``RunLauncher`` over a thread pool whose size is the concurrency limit: ``launch`` queues
the request and returns at once; a worker executes it (``execute(request, started)``, by
default ``execute.execute_run``) and calls ``started`` as soon as the AgentRun exists and
``done`` exactly once, whatever happened (an exception in ``execute`` is a Failed outcome).

``open_runs`` is the set of AgentRuns this process is executing right now, as ``(namespace,
name)``: what ``process.stand_down`` records as Interrupted when the process stops leading.
``drain(timeout)`` (SIGTERM): stop taking runs, drop the queued ones (``done`` with
phase Interrupted and no AgentRun: they never started), wait up to ``timeout`` for the
running ones, and return those still open. It does not kill threads: Python cannot, and a
run ends within its own timeout.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from infraagent.models.agentrun import RunPhase
from infraagent.operator.process import RunKey
from infraagent.ports import RunOutcome, RunRequest

Execute = Callable[[RunRequest, Callable[[str], None]], RunOutcome]
Started = Callable[[RunRequest, str], None]
Done = Callable[[RunRequest, RunOutcome], None]
NOT_STARTED: Final = RunOutcome(None, RunPhase.INTERRUPTED.value)
REFUSED: Final = RunOutcome(None, RunPhase.FAILED.value)


class InProcessLauncher:
    """Executes runs on at most ``concurrency`` threads of this process."""

    def __init__(self, execute: Execute, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("the concurrency limit must be at least 1")
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="run")
        self._lock = threading.Condition()
        self._open: set[RunKey] = set()
        self._busy = 0
        self._accepting = True

    @property
    def open_runs(self) -> frozenset[RunKey]:
        """The AgentRuns being executed now, as ``(namespace, name)``."""
        with self._lock:
            return frozenset(self._open)

    def launch(self, request: RunRequest, started: Started, done: Done) -> None:
        """Queue ``request``; returns at once (see the module docstring)."""
        with self._lock:
            if not self._accepting:
                refused = True
            else:
                refused = False
                self._busy += 1
        if refused:
            done(request, REFUSED)
            return
        try:
            future = self._pool.submit(self._run, request, started, done)
        except RuntimeError:  # drained between the check above and the submit
            self._release()
            done(request, REFUSED)
            return
        future.add_done_callback(lambda f: self._cancelled(f, request, done))

    def drain(self, timeout: float) -> frozenset[RunKey]:
        """Stop taking runs, drop queued ones, wait for running ones; those still open."""
        with self._lock:
            self._accepting = False
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._lock.wait_for(lambda: self._busy == 0, timeout)
            return frozenset(self._open)

    def _run(self, request: RunRequest, started: Started, done: Done) -> None:
        key: list[RunKey] = []

        def on_started(name: str) -> None:
            key.append((request.namespace, name))
            with self._lock:
                self._open.add(key[0])
            with contextlib.suppress(Exception):  # the caller's bug must not abandon the run
                started(request, name)

        try:
            outcome = self._execute(request, on_started)
        except Exception:  # an executor bug still ends the run exactly once
            outcome = RunOutcome(key[0][1] if key else None, RunPhase.FAILED.value)
        finally:
            with self._lock:
                self._open.difference_update(key)
        try:
            done(request, outcome)
        finally:
            self._release()

    def _cancelled(self, future: Future[None], request: RunRequest, done: Done) -> None:
        if future.cancelled():
            try:
                done(request, NOT_STARTED)
            finally:
                self._release()

    def _release(self) -> None:
        with self._lock:
            self._busy -= 1
            self._lock.notify_all()
