"""Cron expressions and time zones: validation of the five-field syntax.

This is the one home of ``croniter`` in the package. It holds pure functions only; the
models use them to validate specs (the scheduler will use croniter through here too).
It deliberately accepts only the classic five-field syntax (minute hour day month weekday),
not croniter's seconds or year extensions, so a schedule means the same thing everywhere.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

_PROBE_START = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
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
