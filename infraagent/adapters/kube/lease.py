"""Leader election on a ``coordination.k8s.io/v1`` Lease, so two replicas never both schedule.

Two halves:

- ``decide`` (pure, no I/O, time passed in): given the Lease's current spec, my identity and
  ``now``, say whether to *acquire* it (absent, free or expired), *renew* it (mine) or *wait*
  (someone else's and fresh), and which spec to write. ``release_spec`` is the spec that gives
  it up. Expiry trusts the holder's ``renewTime`` only while it is plausible (not further in
  the future than one lease duration); the caller may also pass ``observed_at``, the local
  time at which it first saw the current version of the Lease, which keeps a live holder whose
  clock runs behind from losing its Lease (client-go's rule).
- ``LeaderElector``: get / create / replace of the Lease with optimistic concurrency (the
  ``resourceVersion`` read is the one written; a 409 means someone else won), ``release`` and
  a ``run`` loop for a thread that calls back on every transition. A leader steps down when
  it has not renewed for ``renew_deadline`` (less than the lease duration, so it stops before
  anyone else may take over) or when it sees another holder; on stop it calls
  ``on_stopped_leading`` (stop taking runs, finish or interrupt and record the current ones)
  and only then releases the Lease.

What it deliberately does not do: schedule or record runs (the callbacks do), read the
environment, or read the time anywhere but through the injected clock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from infraagent.ports import Clock

log = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "infraagent-operator"
_MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


# --------------------------------------------------------------------------- the pure part


@dataclass(frozen=True, slots=True)
class LeaseSpec:
    """The fields of a Lease's spec that leader election reads and writes."""

    holder: str | None = None
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    duration_seconds: int | None = None
    transitions: int = 0


class Action(StrEnum):
    """What an elector should do with the Lease it just read."""

    ACQUIRE = "acquire"
    RENEW = "renew"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, and the spec to write (``None`` when waiting)."""

    action: Action
    spec: LeaseSpec | None


def lease_expires_at(
    current: LeaseSpec, now: datetime, duration: timedelta, observed_at: datetime | None = None
) -> datetime | None:
    """When the current holder's claim runs out (``None``: there is no valid claim at all).

    The Lease's own ``leaseDurationSeconds`` wins over ``duration``. A ``renewTime`` (or,
    lacking it, ``acquireTime``) further ahead of ``now`` than one duration is implausible
    (a clock far ahead) and ignored; ``observed_at`` counts as a renewal seen locally.
    """
    span = timedelta(seconds=current.duration_seconds) if current.duration_seconds else duration
    candidates = []
    renewed = current.renew_time or current.acquire_time
    if renewed is not None and renewed <= now + span:
        candidates.append(renewed + span)
    if observed_at is not None:
        candidates.append(observed_at + span)
    return max(candidates) if candidates else None


def decide(
    current: LeaseSpec | None,
    identity: str,
    now: datetime,
    duration: timedelta,
    observed_at: datetime | None = None,
) -> Decision:
    """Acquire (absent, free, expired), renew (mine) or wait (another's, fresh)."""
    seconds = _whole_seconds(duration)
    if current is None:
        return Decision(Action.ACQUIRE, LeaseSpec(identity, now, now, seconds, 0))
    if current.holder == identity:
        return Decision(Action.RENEW, replace(current, renew_time=now, duration_seconds=seconds))
    if current.holder:
        expires = lease_expires_at(current, now, duration, observed_at)
        if expires is not None and now < expires:
            return Decision(Action.WAIT, None)
    return Decision(Action.ACQUIRE, LeaseSpec(identity, now, now, seconds, current.transitions + 1))


def release_spec(current: LeaseSpec) -> LeaseSpec:
    """The spec that gives the Lease up: no holder, no times; duration and count kept."""
    return replace(current, holder=None, acquire_time=None, renew_time=None)


def _whole_seconds(duration: timedelta) -> int:
    seconds = duration.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"a lease duration is a whole number of seconds ≥ 1, not {seconds}")
    return int(seconds)


# --------------------------------------------------------------------------- JSON <-> spec


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def spec_from_json(spec: Mapping[str, Any]) -> LeaseSpec:
    """The ``spec`` of a Lease as the API server returns it."""
    duration = spec.get("leaseDurationSeconds")
    holder = spec.get("holderIdentity")
    return LeaseSpec(
        holder=holder if isinstance(holder, str) and holder else None,
        acquire_time=_time(spec.get("acquireTime")),
        renew_time=_time(spec.get("renewTime")),
        duration_seconds=duration if isinstance(duration, int) else None,
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def spec_to_json(spec: LeaseSpec) -> dict[str, Any]:
    """A spec for the API server (MicroTime: UTC, six fractional digits, ``Z``)."""
    out: dict[str, Any] = {"leaseTransitions": spec.transitions}
    if spec.holder:
        out["holderIdentity"] = spec.holder
    if spec.duration_seconds is not None:
        out["leaseDurationSeconds"] = spec.duration_seconds
    for key, value in (("acquireTime", spec.acquire_time), ("renewTime", spec.renew_time)):
        if value is not None:
            out[key] = value.astimezone(UTC).strftime(_MICROTIME)
    return out


# --------------------------------------------------------------------------- the API calls


class _Conflict(Exception):
    """409: someone else created or changed the Lease since it was read."""


class _LeaseApi:
    """get / create / replace of one Lease as plain JSON; the SDK's ``Any`` stays in here."""

    def __init__(self, api_client: Any, namespace: str, name: str, timeout: float) -> None:
        self._api: Any = k8s.CoordinationV1Api(api_client)
        self.namespace, self.name, self._timeout = namespace, name, timeout

    def read(self) -> dict[str, Any] | None:
        try:
            raw = self._api.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=self._timeout
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        lease: dict[str, Any] = json.loads(raw.data)
        return lease

    def create(self, spec: LeaseSpec) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec_to_json(spec),
        }
        self._write(self._api.create_namespaced_lease, self.namespace, body)

    def replace(self, lease: Mapping[str, Any], spec: LeaseSpec) -> None:
        """PUT with the ``resourceVersion`` that was read; spec fields we do not own kept."""
        metadata = {k: v for k, v in lease["metadata"].items() if k != "managedFields"}
        old = {k: v for k, v in lease.get("spec", {}).items() if k not in _OWNED}
        body = {**lease, "metadata": metadata, "spec": {**old, **spec_to_json(spec)}}
        self._write(self._api.replace_namespaced_lease, self.name, self.namespace, body)

    def _write(self, call: Callable[..., Any], *args: Any) -> None:
        try:
            call(*args, _preload_content=False, _request_timeout=self._timeout)
        except ApiException as err:
            if err.status == 409:
                raise _Conflict(str(err.reason)) from err
            raise


_OWNED = frozenset(
    {"holderIdentity", "acquireTime", "renewTime", "leaseDurationSeconds", "leaseTransitions"}
)
# What a failed attempt looks like: an API error, or no answer (connection, timeout).
_TRANSIENT = (ApiException, urllib3.exceptions.HTTPError, OSError)


# --------------------------------------------------------------------------- the elector


class _Outcome(StrEnum):
    LEADING = "leading"  # acquired or renewed
    OTHER = "other"  # someone else holds it, or won the race (409)
    FAILED = "failed"  # no answer or an API error: nothing is known


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class LeaderElector:
    """One candidate for the Lease ``namespace/name``; ``identity`` must be unique per process.

    ``renew_deadline`` (default two thirds of the lease duration) is how long a leader keeps
    leading without a successful renewal. ``sleep`` replaces the waits of ``run`` (tests with
    a fake clock); by default ``run`` waits on its stop event, so a stop is seen at once.
    """

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        name: str = DEFAULT_LEASE_NAME,
        *,
        identity: str,
        lease_duration: timedelta = timedelta(seconds=15),
        renew_every: timedelta = timedelta(seconds=5),
        renew_deadline: timedelta | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        _whole_seconds(lease_duration)
        deadline = lease_duration * 2 / 3 if renew_deadline is None else renew_deadline
        if not timedelta(0) < renew_every < deadline < lease_duration:
            raise ValueError("need 0 < renew_every < renew_deadline < lease_duration")
        self.identity, self.lease_duration = identity, lease_duration
        self.renew_every, self.renew_deadline = renew_every, deadline
        self._clock: Clock = clock or _SystemClock()
        self._sleep = sleep
        self._api = _LeaseApi(api_client, namespace, name, deadline.total_seconds() / 2)
        self._observed: tuple[str, datetime] | None = None  # (resourceVersion, first seen)
        self._last_renewed: datetime | None = None

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when I hold the Lease afterwards. Errors count as False."""
        return self._attempt() is _Outcome.LEADING

    def release(self) -> bool:
        """Clear the holder if it is me (True); a Lease someone else holds is left alone."""
        try:
            lease = self._api.read()
            if lease is None or spec_from_json(lease.get("spec", {})).holder != self.identity:
                return False
            self._api.replace(lease, release_spec(spec_from_json(lease.get("spec", {}))))
        except (_Conflict, *_TRANSIENT) as err:
            log.warning("lease %s: release by %s failed: %s", self._api.name, self.identity, err)
            return False
        log.info("lease %s released by %s", self._api.name, self.identity)
        return True

    def _attempt(self) -> _Outcome:
        now = self._clock.now()
        try:
            lease = self._api.read()
            current = None if lease is None else spec_from_json(lease.get("spec", {}))
            decision = decide(
                current, self.identity, now, self.lease_duration, self._seen(lease, now)
            )
            if decision.spec is None:
                return _Outcome.OTHER
            if lease is None:
                self._api.create(decision.spec)
            else:
                self._api.replace(lease, decision.spec)
        except _Conflict:
            return _Outcome.OTHER
        except _TRANSIENT as err:
            log.warning("lease %s: attempt by %s failed: %s", self._api.name, self.identity, err)
            return _Outcome.FAILED
        if decision.action is Action.ACQUIRE:
            log.info("lease %s acquired by %s", self._api.name, self.identity)
        self._last_renewed = now  # the renewTime written, not the time the answer came
        return _Outcome.LEADING

    def _seen(self, lease: Mapping[str, Any] | None, now: datetime) -> datetime | None:
        """When this version of the Lease was first seen: the start of that attempt.

        On the attempts' own time grid, so that the attempt one lease duration later is not
        missed by a hair (which would cost a whole extra interval).
        """
        if lease is None:
            return None
        version = str(lease.get("metadata", {}).get("resourceVersion", ""))
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, now)
        return self._observed[1]

    def run(
        self,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        stop_event: threading.Event,
        *,
        release_on_stop: bool = True,
    ) -> None:
        """Compete, lead and renew until ``stop_event`` is set; callbacks on each transition.

        The callbacks run in this thread: ``on_started_leading`` must return promptly (start
        work elsewhere); ``on_stopped_leading`` may block until current runs are finished or
        interrupted and recorded. On stop the Lease is released after it returns;
        ``release_on_stop=False`` leaves the Lease to expire (what a crash does).
        """
        leading = False
        try:
            while not stop_event.is_set():
                leading = self._step(leading, on_started_leading, on_stopped_leading)
                self._pause(stop_event)
        finally:
            try:
                if leading:
                    on_stopped_leading()
            finally:
                if release_on_stop:
                    self.release()

    def _step(
        self, leading: bool, started: Callable[[], None], stopped: Callable[[], None]
    ) -> bool:
        outcome = self._attempt()
        if outcome is _Outcome.LEADING:
            if not leading:
                started()
            return True
        last = self._last_renewed
        overdue = last is None or self._clock.now() - last >= self.renew_deadline
        if leading and (outcome is _Outcome.OTHER or overdue):
            log.warning("lease %s: %s steps down (%s)", self._api.name, self.identity, outcome)
            stopped()
            return False
        return leading

    def _pause(self, stop_event: threading.Event) -> None:
        if self._sleep is None:
            stop_event.wait(self.renew_every.total_seconds())
        else:
            self._sleep(self.renew_every.total_seconds())
