"""SDK failures as typed errors: ``ApiException`` → ``KubeError`` and its subclasses.

The message names the action, the HTTP status and the server's own explanation (the
``Status.message`` of the answer), passed through the redactor. It never carries request
bodies, headers or credentials. What to do about an error is the caller's decision.
"""

from __future__ import annotations

import json
from typing import Final

from infraagent.errors import KubeConflict, KubeError, KubeForbidden, KubeInvalid, KubeNotFound
from infraagent.redaction import Redactor

_BY_STATUS: Final[dict[int, type[KubeError]]] = {
    404: KubeNotFound,
    409: KubeConflict,
    403: KubeForbidden,
    422: KubeInvalid,
}
_MAX_MESSAGE: Final = 1000


def _server_message(body: object) -> tuple[str, str]:
    """(message, reason) of a ``Status`` body; empty strings when it is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body:
        return "", ""
    try:
        status = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(status, dict):
        return "", ""
    return str(status.get("message") or ""), str(status.get("reason") or "")


def kube_error(action: str, status: int | None, reason: str, body: object) -> KubeError:
    """The typed error for an answer with HTTP ``status`` (None: the server never answered)."""
    message, server_reason = _server_message(body)
    text = f"{action}: {status} {server_reason or reason}".rstrip()
    if message:
        text += f": {Redactor().redact(message)[:_MAX_MESSAGE]}"
    cls = _BY_STATUS.get(status or 0, KubeError)
    return cls(text, status=status, reason=server_reason or reason)


def unreachable(action: str, err: Exception) -> KubeError:
    """The error for a request that got no HTTP answer (connection, TLS, timeout)."""
    return KubeError(f"{action}: API server unreachable ({type(err).__name__})", status=None)
