"""Coalescing triggers: many cheap requests become at most one pending run per key.

A webhook burst (ten pushes in a second) must cost one reconcile, not ten. A
``KeyedCoalescingTrigger`` owns one worker thread that runs ``run(key)``; a request for a
key that is already pending is merged into it, and a request that arrives while that key's
run is in progress schedules exactly one further run (the run in progress may have read
the old state). ``CoalescingTrigger`` is the same for a single function without a key.

Deliberately not here: retries, backoff and rate limits (the function being run decides,
and polling stays the correctness path), and persistence: requests pending at ``stop`` are
dropped. Runs happen one at a time, in the order their keys were first requested.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Final, Generic, Self, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
_ONLY: Final = "run"


class KeyedCoalescingTrigger(Generic[K]):
    """A worker that runs ``run(key)`` for requested keys, merging repeated requests.

    Thread-safe; ``request`` never blocks on a run. An exception from ``run`` is logged
    (its type only: messages may quote things that should not reach logs) and the worker
    carries on with the next key.
    """

    def __init__(self, run: Callable[[K], None], *, name: str = "coalescing-trigger") -> None:
        self._run = run
        self._name = name
        self._cond = threading.Condition()
        self._pending: dict[K, None] = {}  # an ordered set: first requested, first run
        self._busy = False
        self._stopping = False
        self._completed = 0
        self._thread: threading.Thread | None = None

    @property
    def completed_runs(self) -> int:
        """How many runs have finished (successfully or not) since construction."""
        with self._cond:
            return self._completed

    def start(self) -> None:
        """Start the worker thread. Requests made before ``start`` run once it starts."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError(f"{self._name} was already started")
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Drop pending requests, let a run in progress finish, and end the worker."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def request(self, key: K) -> bool:
        """Ask for a run for ``key``; False when merged into a pending run (or stopped)."""
        with self._cond:
            if self._stopping or key in self._pending:
                return False
            self._pending[key] = None
            self._cond.notify_all()
            return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or running; False if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next(self) -> tuple[K] | None:
        """The next key to run (in a 1-tuple), marked busy; None once stopping."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or bool(self._pending))
            if self._stopping:
                return None
            key = next(iter(self._pending))
            del self._pending[key]
            self._busy = True
            return (key,)

    def _work(self) -> None:
        while True:
            taken = self._next()
            if taken is None:
                return
            try:
                self._run(taken[0])
            except Exception as exc:
                log.error("%s: run failed: %s", self._name, type(exc).__name__)
            finally:
                with self._cond:
                    self._busy = False
                    self._completed += 1
                    self._cond.notify_all()


class CoalescingTrigger:
    """A worker that runs ``run()``; requests while one is pending or running merge into one.

    Ten requests during a run cause exactly one further run.
    """

    def __init__(self, run: Callable[[], None], *, name: str = "coalescing-trigger") -> None:
        self._keyed: KeyedCoalescingTrigger[str] = KeyedCoalescingTrigger(
            lambda _key: run(), name=name
        )

    @property
    def completed_runs(self) -> int:
        """How many runs have finished (successfully or not) since construction."""
        return self._keyed.completed_runs

    def start(self) -> None:
        """Start the worker thread."""
        self._keyed.start()

    def stop(self, timeout: float | None = None) -> None:
        """Drop a pending request, let a run in progress finish, and end the worker."""
        self._keyed.stop(timeout)

    def request(self) -> bool:
        """Ask for a run; False when merged into one already pending (or stopped)."""
        return self._keyed.request(_ONLY)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or running; False if ``timeout`` ran out first."""
        return self._keyed.wait_idle(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
