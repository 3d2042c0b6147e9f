"""The pod columns kubectl computes: READY, STATUS, RESTARTS (its ``printPod``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from infraagent.tools.render._util import as_list, as_map, dig, number, text
from infraagent.tools.render.age import parse_time, since


def _terminated_reason(term: dict[str, Any]) -> str:
    if term.get("reason"):
        return str(term["reason"])
    if number(term, "signal"):
        return f"Signal:{number(term, 'signal')}"
    return f"ExitCode:{number(term, 'exitCode')}"


def _sidecars(pod: Any) -> set[str]:
    """Names of restartable init containers (sidecars), which count as containers."""
    return {
        text(c, "name")
        for c in as_list(dig(pod, "spec", "initContainers"))
        if text(c, "restartPolicy") == "Always"
    }


def _init_reason(pod: Any) -> str | None:
    """``Init:...`` while init containers have not all finished, else None."""
    sidecars = _sidecars(pod)
    total = len(as_list(dig(pod, "spec", "initContainers")))
    for i, status in enumerate(as_list(dig(pod, "status", "initContainerStatuses"))):
        term = as_map(dig(status, "state", "terminated"))
        wait = as_map(dig(status, "state", "waiting"))
        if term and number(term, "exitCode") == 0:
            continue
        if text(status, "name") in sidecars and dig(status, "started") is True:
            continue
        if term:
            return f"Init:{_terminated_reason(term)}"
        if wait.get("reason") and wait["reason"] != "PodInitializing":
            return f"Init:{wait['reason']}"
        return f"Init:{i}/{total}"
    return None


def _pod_ready(pod: Any) -> bool:
    return any(
        text(c, "type") == "Ready" and text(c, "status") == "True"
        for c in as_list(dig(pod, "status", "conditions"))
    )


def pod_status(pod: Any) -> str:
    """The STATUS column: phase, or the reason that matters (CrashLoopBackOff, ...)."""
    status = as_map(dig(pod, "status"))
    reason = text(status, "reason") or text(status, "phase", default="Unknown")
    init = _init_reason(pod)
    if init is not None:
        reason = init
    else:
        has_running = False
        for container in reversed(as_list(status.get("containerStatuses"))):
            wait = as_map(dig(container, "state", "waiting"))
            term = as_map(dig(container, "state", "terminated"))
            if wait.get("reason"):
                reason = str(wait["reason"])
            elif term:
                reason = _terminated_reason(term)
            elif dig(container, "state", "running") is not None and dig(container, "ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if _pod_ready(pod) else "NotReady"
    if dig(pod, "metadata", "deletionTimestamp"):
        reason = "Unknown" if text(status, "reason") == "NodeLost" else "Terminating"
    return reason


def pod_ready(pod: Any) -> str:
    """The READY column, ``ready/total``."""
    sidecars = _sidecars(pod)
    total = len(as_list(dig(pod, "spec", "containers"))) + len(sidecars)
    ready = sum(1 for c in as_list(dig(pod, "status", "containerStatuses")) if dig(c, "ready"))
    ready += sum(
        1
        for c in as_list(dig(pod, "status", "initContainerStatuses"))
        if text(c, "name") in sidecars and dig(c, "ready")
    )
    return f"{ready}/{total}"


def pod_restarts(pod: Any, now: datetime) -> str:
    """The RESTARTS column: the sum, with how long ago the last one was (``4 (2m ago)``)."""
    statuses = as_list(dig(pod, "status", "containerStatuses")) + as_list(
        dig(pod, "status", "initContainerStatuses")
    )
    restarts = sum(number(c, "restartCount") for c in statuses)
    last: datetime | None = None
    for container in statuses:
        moment = parse_time(dig(container, "lastState", "terminated", "finishedAt"))
        if number(container, "restartCount") and moment and (last is None or moment > last):
            last = moment
    if restarts and last is not None:
        return f"{restarts} ({since(last.isoformat(), now)} ago)"
    return str(restarts)
