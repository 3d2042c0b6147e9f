"""List responses as the tables ``kubectl get`` prints, one printer per kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from infraagent.tools.render._util import as_list, as_map, dig, number, table, text
from infraagent.tools.render.age import parse_time, since
from infraagent.tools.render.pods import pod_ready, pod_restarts, pod_status

NONE: Final = "<none>"

Columns = tuple[list[str], Callable[[Any, datetime], list[str]]]


def _age(obj: Any, now: datetime) -> str:
    return since(dig(obj, "metadata", "creationTimestamp"), now)


def _name(obj: Any) -> str:
    return text(obj, "metadata", "name")


def _pods(wide: bool) -> Columns:
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if wide:
        header += ["IP", "NODE"]

    def row(pod: Any, now: datetime) -> list[str]:
        cells = [_name(pod), pod_ready(pod), pod_status(pod), pod_restarts(pod, now)]
        cells.append(_age(pod, now))
        if wide:
            cells += [
                text(pod, "status", "podIP", default=NONE),
                text(pod, "spec", "nodeName", default=NONE),
            ]
        return cells

    return header, row


def _deployment(obj: Any, now: datetime) -> list[str]:
    ready = f"{number(obj, 'status', 'readyReplicas')}/{number(obj, 'spec', 'replicas')}"
    return [
        _name(obj),
        ready,
        str(number(obj, "status", "updatedReplicas")),
        str(number(obj, "status", "availableReplicas")),
        _age(obj, now),
    ]


def _statefulset(obj: Any, now: datetime) -> list[str]:
    ready = f"{number(obj, 'status', 'readyReplicas')}/{number(obj, 'spec', 'replicas')}"
    return [_name(obj), ready, _age(obj, now)]


def _replicaset(obj: Any, now: datetime) -> list[str]:
    return [
        _name(obj),
        str(number(obj, "spec", "replicas")),
        str(number(obj, "status", "replicas")),
        str(number(obj, "status", "readyReplicas")),
        _age(obj, now),
    ]


def _daemonset(obj: Any, now: datetime) -> list[str]:
    selector = as_map(dig(obj, "spec", "template", "spec", "nodeSelector"))
    return [
        _name(obj),
        str(number(obj, "status", "desiredNumberScheduled")),
        str(number(obj, "status", "currentNumberScheduled")),
        str(number(obj, "status", "numberReady")),
        str(number(obj, "status", "updatedNumberScheduled")),
        str(number(obj, "status", "numberAvailable")),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or NONE,
        _age(obj, now),
    ]


def _external_ip(svc: Any) -> str:
    kind = text(svc, "spec", "type", default="ClusterIP")
    external = [str(ip) for ip in as_list(dig(svc, "spec", "externalIPs"))]
    if kind == "ExternalName":
        return text(svc, "spec", "externalName", default=NONE)
    if kind == "LoadBalancer":
        ingress = as_list(dig(svc, "status", "loadBalancer", "ingress"))
        found = [text(i, "ip") or text(i, "hostname") for i in ingress]
        found = [f for f in found if f] + external
        return ",".join(found) if found else "<pending>"
    return ",".join(external) or NONE


def _ports(svc: Any) -> str:
    ports = []
    for port in as_list(dig(svc, "spec", "ports")):
        node = f":{number(port, 'nodePort')}" if number(port, "nodePort") else ""
        protocol = text(port, "protocol", default="TCP")
        ports.append(f"{number(port, 'port')}{node}/{protocol}")
    return ",".join(ports) or NONE


def _service(svc: Any, now: datetime) -> list[str]:
    return [
        _name(svc),
        text(svc, "spec", "type", default="ClusterIP"),
        text(svc, "spec", "clusterIP", default=NONE),
        _external_ip(svc),
        _ports(svc),
        _age(svc, now),
    ]


def _node(node: Any, now: datetime) -> list[str]:
    ready = [c for c in as_list(dig(node, "status", "conditions")) if text(c, "type") == "Ready"]
    if not ready:
        status = "Unknown"
    else:
        status = "Ready" if text(ready[0], "status") == "True" else "NotReady"
    if dig(node, "spec", "unschedulable") is True:
        status += ",SchedulingDisabled"
    roles = set()
    for key, value in as_map(dig(node, "metadata", "labels")).items():
        if key.startswith("node-role.kubernetes.io/") and key.partition("/")[2]:
            roles.add(key.partition("/")[2])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return [
        _name(node),
        status,
        ",".join(sorted(roles)) or NONE,
        _age(node, now),
        text(node, "status", "nodeInfo", "kubeletVersion"),
    ]


def _event_last(event: Any) -> Any:
    return (
        dig(event, "series", "lastObservedTime")
        or dig(event, "lastTimestamp")
        or dig(event, "deprecatedLastTimestamp")
        or dig(event, "eventTime")
        or dig(event, "metadata", "creationTimestamp")
    )


def _event(event: Any, now: datetime) -> list[str]:
    last = since(_event_last(event), now)
    count = number(event, "series", "count") or number(event, "count")
    count = count or number(event, "deprecatedCount")
    first = dig(event, "firstTimestamp") or dig(event, "deprecatedFirstTimestamp")
    first = first or dig(event, "eventTime")
    if count > 1 and first:
        last = f"{last} (x{count} over {since(first, now)})"
    regarding = as_map(dig(event, "involvedObject") or dig(event, "regarding"))
    message = text(event, "message") or text(event, "note")
    return [
        last,
        text(event, "type"),
        text(event, "reason"),
        f"{text(regarding, 'kind').lower()}/{text(regarding, 'name')}",
        " ".join(message.split()),
    ]


def _generic(obj: Any, now: datetime) -> list[str]:
    return [_name(obj), _age(obj, now)]


_PRINTERS: Final[dict[str, Columns]] = {
    "Deployment": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], _deployment),
    "StatefulSet": (["NAME", "READY", "AGE"], _statefulset),
    "ReplicaSet": (["NAME", "DESIRED", "CURRENT", "READY", "AGE"], _replicaset),
    "DaemonSet": (
        ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
        _daemonset,
    ),
    "Service": (["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], _service),
    "Node": (["NAME", "STATUS", "ROLES", "AGE", "VERSION"], _node),
    "Event": (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], _event),
}


def _sorted_events(items: list[Any]) -> list[Any]:
    def key(event: Any) -> tuple[int, float]:
        moment = parse_time(_event_last(event))
        return (0, 0.0) if moment is None else (1, moment.timestamp())

    return sorted(items, key=key)


def list_table(kind: str, items: list[Any], *, namespaced: bool, wide: bool, now: datetime) -> str:
    """The table for ``items`` of ``kind``; a NAMESPACE column first when ``namespaced``."""
    if kind == "Pod":
        header, row = _pods(wide)
    else:
        header, row = _PRINTERS.get(kind, (["NAME", "AGE"], _generic))
    if kind == "Event":
        items = _sorted_events(items)
    rows = [row(item, now) for item in items]
    if namespaced:
        header = ["NAMESPACE", *header]
        spaces = [text(item, "metadata", "namespace") for item in items]
        rows = [[ns, *r] for ns, r in zip(spaces, rows, strict=True)]
    return table(header, rows)


def server_table(response: Any, *, wide: bool) -> str:
    """A ``meta.k8s.io`` Table the server printed: priority-0 columns (all when ``wide``)."""
    columns = as_list(dig(response, "columnDefinitions"))
    shown = [i for i, c in enumerate(columns) if wide or number(c, "priority") == 0]
    header = [text(columns[i], "name").upper() for i in shown]
    rows = []
    for row in as_list(dig(response, "rows")):
        cells = as_list(dig(row, "cells"))
        rows.append([_cell(cells[i]) if i < len(cells) else "" for i in shown])
    return table(header, rows)


def _cell(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
