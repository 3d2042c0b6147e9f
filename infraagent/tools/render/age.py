"""Ages like kubectl's ``HumanDuration``: ``45s``, ``3m10s``, ``3h20m``, ``2d5h``, ``12d``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

UNKNOWN = "<unknown>"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2024-05-01T10:00:00Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds_total: float) -> str:
    """A duration the way kubectl prints it (``k8s.io/apimachinery/pkg/util/duration``)."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def since(value: Any, now: datetime) -> str:
    """How long ago the timestamp ``value`` was, or ``<unknown>``."""
    moment = parse_time(value)
    if moment is None:
        return UNKNOWN
    current = now if now.tzinfo else now.replace(tzinfo=UTC)
    return human_duration((current - moment).total_seconds())
