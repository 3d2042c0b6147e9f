"""Cron expressions and time zones: validation of the five-field syntax and fire times.

This is the one home of ``croniter`` in the package. It holds pure code only; the models
use it to validate specs and the scheduler to compute fire times (``next_fire``,
``previous_fire``, ``cron_period``, and ``Cadence`` for a cron or an interval). Times go in
as aware datetimes and come out as aware UTC; the expression is read in the agent's IANA
time zone, so ``0 9 * * *`` in ``Europe/Berlin`` fires at 09:00 Berlin time on both sides of
a DST change. A wall time that does not exist (the hour skipped in spring) fires at the
first instant after the gap; a wall time that happens twice (the hour repeated in autumn)
fires at each real occurrence, as croniter does. Parsed expressions are cached and shared
under a lock, since parsing costs far more than stepping.

It deliberately accepts only the classic five-field syntax (minute hour day month weekday),
not croniter's seconds or year extensions, so a schedule means the same thing everywhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

_PROBE_START = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
_LOCK = threading.Lock()
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")


@lru_cache(maxsize=4096)
def cron_problem(expression: str) -> str | None:
    """Return a plain sentence saying what is wrong with ``expression``, or None if valid.

    Cached: fleets repeat the same few expressions many times.
    """
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"cron expression {expression!r} has {len(fields)} fields; "
            "expected 5 (minute hour day-of-month month day-of-week)"
        )
    for name, field in zip(_FIELD_NAMES, fields, strict=True):
        probe = ["*"] * 5
        probe[_FIELD_NAMES.index(name)] = field
        if not croniter.is_valid(" ".join(probe)):
            return f"cron expression {expression!r} has an invalid {name} field {field!r}"
    if not croniter.is_valid(expression):
        return f"cron expression {expression!r} is not valid"
    try:
        croniter(expression, _PROBE_START, max_years_between_matches=8).get_next(datetime)
    except CroniterBadDateError:
        return f"cron expression {expression!r} never fires (no matching date in 8 years)"
    return None


def timezone_problem(name: str) -> str | None:
    """Return a plain sentence if ``name`` is not an IANA time zone, else None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not an IANA time zone name (for example UTC or Europe/Berlin)"
    return None


@lru_cache(maxsize=1024)
def _parsed(expression: str) -> croniter:
    """One parsed iterator per expression: parsing costs far more than stepping."""
    return croniter(expression, _PROBE_START)


def _step(expression: str, timezone: str, start: datetime, *, forward: bool) -> datetime:
    if start.tzinfo is None:
        raise ValueError("fire times are computed from aware datetimes only")
    local = start.astimezone(ZoneInfo(timezone))
    with _LOCK:  # the cached iterators are stateful
        iterator = _parsed(expression)
        iterator.set_current(local, force=True)
        fire: datetime = iterator.get_next(datetime) if forward else iterator.get_prev(datetime)
    return fire.astimezone(UTC)


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time of ``expression`` (read in ``timezone``) strictly after ``after``.

    ``after`` must be aware; the result is aware UTC. Raises ``ValueError`` (or croniter's
    own errors) for an invalid expression or zone: check with ``cron_problem`` and
    ``timezone_problem`` first. Thread-safe.
    """
    return _step(expression, timezone, after, forward=True)


def previous_fire(expression: str, timezone: str, at: datetime) -> datetime:
    """The latest fire time of ``expression`` at or before ``at`` (aware UTC)."""
    # croniter's get_prev is strictly before
    return _step(expression, timezone, at + timedelta(microseconds=1), forward=False)


def cron_period(expression: str, timezone: str, after: datetime) -> timedelta:
    """The gap between the next two fire times after ``after``: the schedule's period there."""
    first = next_fire(expression, timezone, after)
    return next_fire(expression, timezone, first) - first


@dataclass(frozen=True, slots=True)
class Cadence:
    """When a schedule fires: a cron expression in a zone, or a fixed interval.

    ``first`` and ``after`` never backfill: however many fire times were missed, they
    yield one (the latest missed) or the next one to come.
    """

    cron: str | None
    timezone: str = "UTC"
    interval: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a cadence has either a cron expression or an interval")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("an interval must be positive")

    def first(self, last: datetime | None, now: datetime) -> datetime:
        """The first fire time to plan, given the last run's start (None: never ran).

        When ``last`` predates a fire time at or before ``now`` (downtime), that is the
        latest missed fire (due at once); otherwise the next one. An interval that never
        ran fires ``now``.
        """
        if self.interval is None:
            assert self.cron is not None
            if last is not None and next_fire(self.cron, self.timezone, last) <= now:
                return previous_fire(self.cron, self.timezone, now)
            return next_fire(self.cron, self.timezone, now)
        if last is None:
            return now
        fire = last + self.interval
        if fire <= now:
            fire += self.interval * ((now - fire) // self.interval)  # latest at or before now
        return fire

    def after(self, fire: datetime, now: datetime) -> datetime:
        """The first fire time after both ``fire`` and ``now`` (an interval keeps its grid)."""
        if self.interval is None:
            assert self.cron is not None
            return next_fire(self.cron, self.timezone, max(fire, now))
        if fire > now:
            return fire + self.interval
        return fire + self.interval * ((now - fire) // self.interval + 1)

    def period(self, at: datetime) -> timedelta:
        """The gap between fires around ``at``."""
        if self.interval is not None:
            return self.interval
        assert self.cron is not None
        return cron_period(self.cron, self.timezone, at)
