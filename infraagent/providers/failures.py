"""What a provider failure means, worded for a person and never carrying a credential.

Both providers turn their SDK's exceptions into a ``Failure`` through these helpers, so an
HTTP status means the same for every provider: 401/403 are credential problems (stop at
once), 404 or ``model_not_found`` is an unknown model or a wrong endpoint (stop at once),
408/409/429/5xx and timeouts are worth retrying, any other 4xx is a rejected request.
Every message goes through ``scrub`` so no API key or secret header value leaks.

It knows no SDK and does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from infraagent.providers.retry import Failure, retry_after_seconds

REDACTED = "[REDACTED]"
_DETAIL_LIMIT = 300
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


def describe(provider: str, model: str, base_url: str) -> str:
    """How messages name the provider: ``anthropic model 'm' at https://host`` (no userinfo,
    query or fragment)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return f"{provider} model {model!r} at {shown}"


def status_failure(
    where: str, status: int, detail: str, code: str | None, headers: Mapping[str, str]
) -> Failure:
    """The meaning of an HTTP error answer."""
    said = f"HTTP {status}: {_short(detail)}"
    if status in (401, 403):
        return Failure(
            "auth",
            f"{where} refused the credentials ({said}); check the API key Secret and the "
            "headers of this model tier",
            status,
        )
    if status == 404 or code == "model_not_found":
        return Failure(
            "model",
            f"{where}: the model was not found ({said}); check the model name and the "
            "endpoint base URL",
            status,
        )
    if status in _RETRYABLE_STATUSES or status >= 500:
        wait = retry_after_seconds(headers)
        return Failure("retryable", f"{where} failed ({said})", status, wait)
    return Failure("rejected", f"{where} rejected the request ({said})", status)


def timeout_failure(where: str, timeout_seconds: float) -> Failure:
    return Failure("retryable", f"{where} did not answer within {timeout_seconds:g} s")


def connection_failure(where: str, detail: str) -> Failure:
    return Failure("retryable", f"could not reach {where}: {_short(detail)}")


def response_failure(where: str, detail: str) -> Failure:
    return Failure("response", f"{where} answered with an unusable response: {_short(detail)}")


def scrub(failure: Failure, secrets: Iterable[str]) -> Failure:
    """``failure`` with every secret value in its message replaced by ``[REDACTED]``."""
    message = failure.message
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            message = message.replace(secret, REDACTED)
    if message == failure.message:
        return failure
    return Failure(failure.kind, message, failure.status, failure.retry_after)


def error_detail(body: object, fallback: str) -> str:
    """The human message of an API error body (Anthropic ``{"error": {...}}``, OpenAI's
    inner error object, or a plain string), else ``fallback``."""
    inner = _inner(body)
    message = inner.get("message") if inner is not None else None
    return message if isinstance(message, str) and message else fallback


def error_code(body: object) -> str | None:
    """The machine code of an API error body (``code``, else ``type``), if any."""
    inner = _inner(body)
    if inner is None:
        return None
    code = inner.get("code") or inner.get("type")
    return code if isinstance(code, str) else None


def _inner(body: object) -> Mapping[str, object] | None:
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    return error if isinstance(error, Mapping) else body


def _short(detail: str) -> str:
    flat = " ".join(detail.split())
    return flat if len(flat) <= _DETAIL_LIMIT else flat[: _DETAIL_LIMIT - 1] + "…"


@dataclass(frozen=True)
class SdkErrors:
    """The exception classes of one SDK that ``sdk_failure`` tells apart."""

    status: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]
    other: tuple[type[Exception], ...]


def sdk_failure(errors: SdkErrors, where: str, timeout: float, exc: Exception) -> Failure | None:
    """What an SDK exception means for retrying; None for an exception of no SDK."""
    if isinstance(exc, errors.status):
        failed: Any = exc
        return status_failure(
            where,
            failed.status_code,
            error_detail(failed.body, failed.message),
            error_code(failed.body),
            failed.response.headers,
        )
    if isinstance(exc, errors.timeout):
        return timeout_failure(where, timeout)
    if isinstance(exc, errors.connection):
        return connection_failure(where, str(exc.__cause__ or exc))
    if isinstance(exc, errors.other):
        return response_failure(where, f"{type(exc).__name__}: {exc}")
    return None
