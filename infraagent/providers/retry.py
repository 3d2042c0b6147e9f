"""The one retry loop both providers share, so 429s, 5xx and timeouts behave the same.

``run_with_retries`` calls an attempt, asks a provider's classifier what a failure means
(a ``Failure``), sleeps (``Retry-After`` if the server sent one, capped; exponential
backoff otherwise) and tries again within the budget, then raises the ``ProviderError``.
The SDKs' own retries are switched off (``max_retries=0``) so this is the only loop.

This module knows no SDK and does no I/O besides the injected ``sleep``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

from infraagent.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderModelNotFound,
    ProviderResponseError,
)

T = TypeVar("T")

FailureKind = Literal["auth", "model", "rejected", "response", "retryable"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry and how long to wait in between.

    ``max_retries`` counts retries after the first attempt (None: the provider's configured
    ``max_retries``). Without ``Retry-After`` the wait is ``initial_backoff * 2**n`` capped
    at ``max_backoff``; a server's ``Retry-After`` is honoured up to ``max_retry_after``.
    """

    max_retries: int | None = None
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def retries(self, configured: int) -> int:
        """The retry budget: ``max_retries`` when set, else the provider's ``configured``."""
        return configured if self.max_retries is None else self.max_retries

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry_number`` (0 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.initial_backoff * 2.0**retry_number, self.max_backoff)


@dataclass(frozen=True, slots=True)
class Failure:
    """What one failed attempt means: its kind decides retry or stop."""

    kind: FailureKind
    message: str
    status: int | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind == "retryable"

    def error(self, attempts: int) -> ProviderError:
        """The error to raise when we stop here after ``attempts`` attempts."""
        if self.kind == "auth":
            return ProviderAuthError(self.message, status=self.status)
        if self.kind == "model":
            return ProviderModelNotFound(self.message, status=self.status)
        if self.kind == "response":
            return ProviderResponseError(self.message, status=self.status)
        if self.kind == "rejected":
            return ProviderError(self.message, status=self.status)
        message = f"{self.message} (gave up after {attempts} attempt{'s' * (attempts != 1)})"
        return ProviderError(message, retryable=True, status=self.status)


def run_with_retries(
    attempt: Callable[[], T],
    classify: Callable[[Exception], Failure | None],
    *,
    retries: int,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> T:
    """Call ``attempt`` until it succeeds, a failure is final, or ``retries`` are used up.

    ``classify`` returns None for exceptions it does not know; those propagate unchanged.
    """
    attempts = 0
    while True:
        attempts += 1
        try:
            return attempt()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if not failure.retryable or attempts > retries:
                raise failure.error(attempts) from exc
            sleep(policy.delay(attempts - 1, failure.retry_after))


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``retry-after`` in seconds or
    as an HTTP date. None when absent or unreadable."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    milliseconds = _number(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = lowered.get("retry-after")
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
