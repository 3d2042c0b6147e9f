"""API errors as the tool result kubectl would print: ``Error from server (NotFound): ...``."""

from __future__ import annotations

import json
from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.ports import ToolOutput
from infraagent.tools.render._util import text
from infraagent.tools.render.kinds import singular

REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _status_body(message: str) -> dict[str, Any]:
    """The ``Status`` object when ``message`` is the raw JSON body, else empty."""
    if not message.lstrip().startswith("{"):
        return {}
    try:
        parsed = json.loads(message)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _default_message(request: KubeRequest, status: int) -> str:
    what = singular(request.resource)
    what = f"{what}.{request.group}" if request.group else what
    if status == 404 and request.name:
        return f'{what} "{request.name}" not found'
    return f"the server returned status {status} for {request.summary()}"


def render_error(request: KubeRequest, status: int, message: str) -> ToolOutput:
    """An API error as a tool result (``is_error``) the model can read; never raises."""
    try:
        raw = message if isinstance(message, str) else str(message)
        body = _status_body(raw)
        reason = text(body, "reason") or REASONS.get(status, str(status))
        if status == 409 and "already exists" in raw and not body:
            reason = "AlreadyExists"
        detail = text(body, "message") if body else raw.strip()
        detail = detail or _default_message(request, status)
        return ToolOutput(f"Error from server ({reason}): {detail}", is_error=True)
    except Exception:  # a malformed error must still reach the model as data
        return ToolOutput(f"Error from server ({status}): {message!r}", is_error=True)
