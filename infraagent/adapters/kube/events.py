"""Kubernetes Events about an object: ``events.k8s.io/v1``, redacted and length-capped.

``event_for`` (pure) builds the Event; ``record_event`` creates it with ``KubeClient``.
The note goes through the redactor and is cut to the API's limit (1 KiB); an Event lives
in the object's namespace (``default`` for a cluster-scoped object, as client-go does).
Recording is best effort: a 403 (the identity may not create Events) is logged and gives
``None``, never an exception; any other API failure is raised as its ``KubeError``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from infraagent.adapters.kube.client import KubeClient
from infraagent.errors import KubeError, KubeForbidden
from infraagent.redaction import Redactor

log = logging.getLogger(__name__)

EventKind = Literal["Normal", "Warning"]
EVENTS_API: Final = "events.k8s.io/v1"
MAX_NOTE_BYTES: Final = 1024
_MAX_REASON: Final = 128
_MAX_FIELD: Final = 128
_MICROTIME: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_ELLIPSIS: Final = "…"


def cap_bytes(text: str, limit: int) -> str:
    """``text`` cut (on a character boundary, with an ellipsis) to at most ``limit`` bytes."""
    if len(text.encode("utf-8")) <= limit:
        return text
    budget = limit - len(_ELLIPSIS.encode("utf-8"))
    cut = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return cut + _ELLIPSIS


def _reference(involved: Mapping[str, Any]) -> dict[str, str]:
    meta = involved.get("metadata") or {}
    ref = {
        "apiVersion": str(involved.get("apiVersion") or ""),
        "kind": str(involved.get("kind") or ""),
        "name": str(meta.get("name") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "uid": str(meta.get("uid") or ""),
        "resourceVersion": str(meta.get("resourceVersion") or ""),
    }
    return {key: value for key, value in ref.items() if value}


def event_for(
    involved: Mapping[str, Any],
    reason: str,
    message: str,
    type: EventKind,
    *,
    component: str,
    instance: str,
    now: datetime,
    action: str = "Reconcile",
    redactor: Redactor | None = None,
) -> dict[str, Any]:
    """The ``events.k8s.io/v1`` Event (a plain mapping) about ``involved``."""
    if type not in ("Normal", "Warning"):
        raise KubeError(f"an Event's type is Normal or Warning, not {type!r}")
    regarding = _reference(involved)
    if "name" not in regarding or "kind" not in regarding:
        raise KubeError("an Event needs the object's kind and metadata.name")
    note = cap_bytes((redactor or Redactor()).redact(message), MAX_NOTE_BYTES)
    stamp = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return {
        "apiVersion": EVENTS_API,
        "kind": "Event",
        "metadata": {
            # client-go's naming: <object>.<nanoseconds in hex> (generateName "x." is invalid)
            "name": f"{regarding['name'][:200]}.{int(stamp.timestamp() * 1e9):x}",
            "namespace": regarding.get("namespace", "default"),
        },
        "eventTime": stamp.strftime(_MICROTIME),
        "reportingController": component[:_MAX_FIELD],
        "reportingInstance": instance[:_MAX_FIELD],
        "action": action[:_MAX_FIELD],
        "reason": reason[:_MAX_REASON],
        "type": type,
        "regarding": regarding,
        "note": note,
    }


def record_event(
    client: KubeClient,
    involved: Mapping[str, Any],
    reason: str,
    message: str,
    type: EventKind,
    *,
    component: str = "infraagent",
    now: datetime,
    instance: str | None = None,
    action: str = "Reconcile",
) -> dict[str, Any] | None:
    """Create an Event about ``involved``; the created Event, or ``None`` when forbidden."""
    event = event_for(
        involved,
        reason,
        message,
        type,
        component=component,
        instance=instance or f"{component}-{socket.gethostname()}",
        now=now,
        action=action,
    )
    try:
        return client.create(event)
    except KubeForbidden as err:
        log.warning("event %s about %s not recorded: %s", reason, event["regarding"], err)
        return None
