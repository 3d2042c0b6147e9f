# ruff: noqa: E501 (realistic API JSON fixtures read best on one line)
"""API responses render the way kubectl prints them; API errors become tool results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from infraagent.models.requests import KubeRequest as R
from infraagent.tools.render import human_duration, render_error, render_result

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    *,
    namespace: str = "prod",
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    containers: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "creationTimestamp": ago(days=2, hours=5),
    }
    metadata.update(extra.pop("metadata", {}))
    body: dict[str, Any] = {
        "metadata": metadata,
        "spec": {
            "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)],
            "nodeName": "node-1",
        },
        "status": {"phase": phase, "podIP": "10.1.2.3", "containerStatuses": statuses or []},
    }
    body["spec"].update(extra.pop("spec", {}))
    body["status"].update(extra.pop("status", {}))
    return body


def running(name: str = "c0", restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ago(hours=1)}},
        **extra,
    }


def podlist(*items: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": list(items)}


LIST_PODS = R("list", "pods", "", "v1", namespace="prod", resolved=True)


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


# ages


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (180, "3m"),
        (190, "3m10s"),
        (15 * 60 + 20, "15m"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (5 * 3600, "5h"),
        (20 * 3600, "20h"),
        (2 * 86400 + 5 * 3600 + 59, "2d5h"),
        (3 * 86400, "3d"),
        (12 * 86400 + 7 * 3600, "12d"),
        (800 * 86400, "2y70d"),
        (3650 * 86400, "10y"),
    ],
)
def test_ages_like_kubectl(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


# pods


def test_pod_table_aligned_two_spaces() -> None:
    out = render_result(
        LIST_PODS,
        podlist(pod("web-1", statuses=[running()]), pod("a", statuses=[running()])),
        now=NOW,
    )
    assert out.splitlines() == [
        "NAME   READY  STATUS   RESTARTS  AGE",
        "web-1  1/1    Running  0         2d5h",
        "a      1/1    Running  0         2d5h",
    ]


def test_crashloop_ready_and_restarts_with_last_restart() -> None:
    crashing = {
        "name": "c1",
        "ready": False,
        "restartCount": 7,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=90)}},
    }
    item = pod("api", containers=2, statuses=[running("c0", restarts=1), crashing])
    assert lines(render_result(LIST_PODS, podlist(item), now=NOW))[1] == [
        "api",
        "1/2",
        "CrashLoopBackOff",
        "8",
        "(90s",
        "ago)",
        "2d5h",
    ]


@pytest.mark.parametrize(
    ("item", "status"),
    [
        (
            pod(
                "p",
                phase="Pending",
                statuses=[
                    {
                        "name": "c0",
                        "ready": False,
                        "state": {"waiting": {"reason": "ImagePullBackOff"}},
                    }
                ],
            ),
            "ImagePullBackOff",
        ),
        (pod("p", phase="Pending"), "Pending"),
        (
            pod("p", statuses=[running()], metadata={"deletionTimestamp": ago(seconds=5)}),
            "Terminating",
        ),
        (
            pod(
                "p",
                phase="Succeeded",
                statuses=[
                    {
                        "name": "c0",
                        "ready": False,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                    }
                ],
            ),
            "Completed",
        ),
        (
            pod(
                "p",
                phase="Running",
                statuses=[
                    {
                        "name": "c0",
                        "ready": False,
                        "state": {"terminated": {"exitCode": 137, "signal": 9}},
                    }
                ],
            ),
            "Signal:9",
        ),
        (pod("p", phase="Failed", status={"reason": "Evicted"}), "Evicted"),
        (
            pod(
                "p",
                phase="Pending",
                spec={"initContainers": [{"name": "migrate"}, {"name": "warm"}]},
                status={
                    "initContainerStatuses": [
                        {"name": "migrate", "state": {"terminated": {"exitCode": 0}}},
                        {"name": "warm", "state": {"running": {}}},
                    ]
                },
            ),
            "Init:1/2",
        ),
        (
            pod(
                "p",
                phase="Pending",
                spec={"initContainers": [{"name": "migrate"}]},
                status={
                    "initContainerStatuses": [
                        {"name": "migrate", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                    ]
                },
            ),
            "Init:CrashLoopBackOff",
        ),
    ],
)
def test_pod_status_column(item: dict[str, Any], status: str) -> None:
    assert lines(render_result(LIST_PODS, podlist(item), now=NOW))[1][2] == status


def test_all_namespaces_and_wide() -> None:
    request = R("list", "pods", "", "v1", all_namespaces=True, resolved=True)
    out = render_result(request, podlist(pod("web", statuses=[running()])), "wide", now=NOW)
    assert lines(out) == [
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"],
        ["prod", "web", "1/1", "Running", "0", "2d5h", "10.1.2.3", "node-1"],
    ]


def test_wide_single_pod_is_a_table_row() -> None:
    request = R("get", "pods", "", "v1", namespace="prod", name="web", resolved=True)
    item = {"kind": "Pod", "apiVersion": "v1", **pod("web", statuses=[running()])}
    assert lines(render_result(request, item, "wide", now=NOW))[1][0] == "web"


# other kinds


def test_deployments() -> None:
    response = {
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "items": [
            {
                "metadata": {"name": "web", "creationTimestamp": ago(minutes=3)},
                "spec": {"replicas": 3},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
            },
            {"metadata": {"name": "idle", "creationTimestamp": ago(days=12)}, "spec": {}},
        ],
    }
    request = R("list", "deployments", "apps", "v1", namespace="prod", resolved=True)
    assert render_result(request, response, now=NOW).splitlines() == [
        "NAME  READY  UP-TO-DATE  AVAILABLE  AGE",
        "web   2/3    3           2          3m",
        "idle  0/0    0           0          12d",
    ]


def test_statefulsets_replicasets_daemonsets() -> None:
    meta = {"name": "x", "creationTimestamp": ago(seconds=45)}
    sts = {
        "kind": "StatefulSetList",
        "items": [{"metadata": meta, "spec": {"replicas": 3}, "status": {"readyReplicas": 3}}],
    }
    assert lines(render_result(R("list", "statefulsets"), sts, now=NOW)) == [
        ["NAME", "READY", "AGE"],
        ["x", "3/3", "45s"],
    ]
    rs = {
        "kind": "ReplicaSetList",
        "items": [
            {
                "metadata": meta,
                "spec": {"replicas": 2},
                "status": {"replicas": 2, "readyReplicas": 1},
            }
        ],
    }
    assert lines(render_result(R("list", "replicasets"), rs, now=NOW))[1] == [
        "x",
        "2",
        "2",
        "1",
        "45s",
    ]
    ds = {
        "kind": "DaemonSetList",
        "items": [
            {
                "metadata": meta,
                "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
                "status": {
                    "desiredNumberScheduled": 4,
                    "currentNumberScheduled": 4,
                    "numberReady": 3,
                    "updatedNumberScheduled": 4,
                    "numberAvailable": 3,
                },
            }
        ],
    }
    out = render_result(R("list", "daemonsets"), ds, now=NOW).splitlines()
    assert out[0].split("  ")[6].strip() == "NODE SELECTOR"
    assert out[1].split() == ["x", "4", "4", "3", "4", "3", "kubernetes.io/os=linux", "45s"]


def test_services() -> None:
    def svc(name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> Any:
        return {
            "metadata": {"name": name, "creationTimestamp": ago(hours=5)},
            "spec": spec,
            "status": status or {},
        }

    response = {
        "kind": "ServiceList",
        "items": [
            svc(
                "web",
                {
                    "type": "ClusterIP",
                    "clusterIP": "10.0.0.1",
                    "ports": [{"port": 80, "protocol": "TCP"}],
                },
            ),
            svc("db", {"type": "ClusterIP", "clusterIP": "None", "ports": []}),
            svc(
                "lb",
                {
                    "type": "LoadBalancer",
                    "clusterIP": "10.0.0.2",
                    "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}],
                },
                {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
            ),
            svc(
                "new",
                {
                    "type": "LoadBalancer",
                    "clusterIP": "10.0.0.3",
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}],
                },
            ),
            svc("ext", {"type": "ExternalName", "externalName": "db.example.com"}),
        ],
    }
    assert lines(render_result(R("list", "services"), response, now=NOW)) == [
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["web", "ClusterIP", "10.0.0.1", "<none>", "80/TCP", "5h"],
        ["db", "ClusterIP", "None", "<none>", "<none>", "5h"],
        ["lb", "LoadBalancer", "10.0.0.2", "1.2.3.4", "443:30443/TCP", "5h"],
        ["new", "LoadBalancer", "10.0.0.3", "<pending>", "53/UDP,53/TCP", "5h"],
        ["ext", "ExternalName", "<none>", "db.example.com", "<none>", "5h"],
    ]


def test_nodes() -> None:
    def node(name: str, ready: str | None, labels: dict[str, str], **spec: Any) -> Any:
        conditions = [{"type": "Ready", "status": ready}] if ready else []
        return {
            "metadata": {"name": name, "labels": labels, "creationTimestamp": ago(days=40)},
            "spec": spec,
            "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.31.2"}},
        }

    response = {
        "kind": "NodeList",
        "items": [
            node("cp", "True", {"node-role.kubernetes.io/control-plane": ""}),
            node("w1", "False", {}, unschedulable=True),
            node("w2", None, {"kubernetes.io/role": "worker"}),
        ],
    }
    assert lines(render_result(R("list", "nodes", "", "v1", resolved=True), response, now=NOW)) == [
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ["cp", "Ready", "control-plane", "40d", "v1.31.2"],
        ["w1", "NotReady,SchedulingDisabled", "<none>", "40d", "v1.31.2"],
        ["w2", "Unknown", "worker", "40d", "v1.31.2"],
    ]


def test_events_sorted_by_time_with_counts() -> None:
    response = {
        "kind": "EventList",
        "items": [
            {
                "metadata": {"name": "e1", "namespace": "prod"},
                "involvedObject": {"kind": "Pod", "name": "api-7d9"},
                "type": "Warning",
                "reason": "BackOff",
                "message": "Back-off restarting failed container",
                "count": 12,
                "firstTimestamp": ago(minutes=30),
                "lastTimestamp": ago(seconds=20),
            },
            {
                "metadata": {"name": "e2", "namespace": "prod"},
                "involvedObject": {"kind": "Deployment", "name": "web"},
                "type": "Normal",
                "reason": "ScalingReplicaSet",
                "message": "Scaled up replica set web-5 to 3\n",
                "count": 1,
                "firstTimestamp": ago(minutes=5),
                "lastTimestamp": ago(minutes=5),
            },
        ],
    }
    out = render_result(R("list", "events", namespace="prod"), response, now=NOW).splitlines()
    assert out[0].split("  ")[0] == "LAST SEEN"
    assert out[1].split() == [
        "5m",
        "Normal",
        "ScalingReplicaSet",
        "deployment/web",
        "Scaled",
        "up",
        "replica",
        "set",
        "web-5",
        "to",
        "3",
    ]
    assert out[2].startswith("20s (x12 over 30m)  Warning  BackOff")
    assert out[2].split()[6:] == ["pod/api-7d9", "Back-off", "restarting", "failed", "container"]


def test_events_k8s_io_shape() -> None:
    response = {
        "kind": "EventList",
        "apiVersion": "events.k8s.io/v1",
        "items": [
            {
                "metadata": {"name": "e", "creationTimestamp": ago(hours=1)},
                "regarding": {"kind": "Node", "name": "w1"},
                "type": "Normal",
                "reason": "NodeReady",
                "note": "Node w1 status is now: NodeReady",
                "eventTime": ago(minutes=7),
            }
        ],
    }
    out = lines(render_result(R("list", "events", "events.k8s.io"), response, now=NOW))
    assert out[1][:4] == ["7m", "Normal", "NodeReady", "node/w1"]


def test_other_kinds_name_age_with_namespace() -> None:
    response = {
        "kind": "ConfigMapList",
        "items": [
            {"metadata": {"name": "cfg", "namespace": "a", "creationTimestamp": ago(days=3)}}
        ],
    }
    request = R("list", "configmaps", "", "v1", all_namespaces=True, resolved=True)
    assert lines(render_result(request, response, now=NOW)) == [
        ["NAMESPACE", "NAME", "AGE"],
        ["a", "cfg", "3d"],
    ]
    assert lines(
        render_result(R("list", "widgets"), {"items": [{"metadata": {"name": "w"}}]}, now=NOW)
    )[1] == ["w", "<unknown>"]


def test_server_side_table() -> None:
    response = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "columnDefinitions": [
            {"name": "Name", "priority": 0},
            {"name": "Capacity", "priority": 0},
            {"name": "Detail", "priority": 1},
        ],
        "rows": [{"cells": ["data-0", "10Gi", "x"]}],
    }
    assert lines(render_result(R("list", "persistentvolumeclaims"), response, now=NOW)) == [
        ["NAME", "CAPACITY"],
        ["data-0", "10Gi"],
    ]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (LIST_PODS, "No resources found in prod namespace."),
        (R("list", "pods", all_namespaces=True), "No resources found"),
        (R("list", "nodes"), "No resources found"),
    ],
)
def test_empty_lists(request_: R, expected: str) -> None:
    assert render_result(request_, {"kind": "PodList", "items": []}, now=NOW) == expected


# documents

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "prod",
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"apps/v1"}',
            "team": "web",
        },
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {}}],
    },
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {"containers": [{"name": "c", "image": "nginx", "args": ["line1\nline2"]}]}
        },
    },
}
GET_WEB = R("get", "deployments", "apps", "v1", namespace="prod", name="web", resolved=True)


def test_single_object_is_yaml_without_noise() -> None:
    out = render_result(GET_WEB, DEPLOYMENT, now=NOW)
    assert "managedFields" not in out
    assert "last-applied-configuration" not in out
    assert out.startswith("apiVersion: apps/v1\nkind: Deployment\n")
    assert "- |-\n" in out  # multi-line strings in block style, as kubectl prints them
    parsed = yaml.safe_load(out)
    assert parsed["metadata"]["annotations"] == {"team": "web"}
    assert parsed["spec"] == DEPLOYMENT["spec"]
    assert "managedFields" in DEPLOYMENT["metadata"]  # the response itself is not modified


def test_only_annotation_removed_drops_annotations() -> None:
    obj = {
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
    }
    assert "annotations" not in render_result(R("get", "configmaps", name="c"), obj, now=NOW)


def test_json_and_yaml_lists() -> None:
    response = {"kind": "DeploymentList", "apiVersion": "apps/v1", "items": [DEPLOYMENT]}
    request = R("list", "deployments", "apps", "v1", namespace="prod", resolved=True)
    parsed = json.loads(render_result(request, response, "json", now=NOW))
    assert "managedFields" not in parsed["items"][0]["metadata"]
    assert (
        yaml.safe_load(render_result(request, response, "yaml", now=NOW))["kind"]
        == "DeploymentList"
    )
    assert json.loads(render_result(GET_WEB, DEPLOYMENT, "JSON", now=NOW))["kind"] == "Deployment"


def test_name_output() -> None:
    response = {
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "items": [{"metadata": {"name": "web"}}, {"metadata": {"name": "api"}}],
    }
    request = R("list", "deployments", "apps", "v1", resolved=True)
    assert (
        render_result(request, response, "name", now=NOW)
        == "deployment.apps/web\ndeployment.apps/api"
    )
    assert render_result(LIST_PODS, podlist(pod("a")), "name", now=NOW) == "pod/a"
    assert render_result(GET_WEB, DEPLOYMENT, "name", now=NOW) == "deployment.apps/web"


def test_logs_pass_through() -> None:
    request = R("get", "pods", "", "v1", subresource="log", namespace="prod", name="web")
    log = "2024-05-10T11:59:00Z starting\n  indented: {not: yaml}\n"
    assert render_result(request, log, now=NOW) == log
    assert render_result(request, log.encode(), now=NOW) == log
    assert render_result(request, "", now=NOW) == ""


# mutations

RESTART = {
    "spec": {
        "template": {
            "metadata": {
                "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-10T12:00:00Z"}
            }
        }
    }
}


def patch(body: Any, patch_type: str = "strategic", **kw: Any) -> R:
    return R(
        "patch",
        "deployments",
        "apps",
        "v1",
        namespace="prod",
        name="web",
        body=body,
        patch_type=patch_type,
        resolved=True,
        **kw,
    )


@pytest.mark.parametrize(
    ("request_", "response", "expected"),
    [
        (patch(RESTART), DEPLOYMENT, "deployment.apps/web restarted"),
        (
            patch({"spec": {"replicas": 3}}, "merge", subresource="scale"),
            {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"}},
            "deployment.apps/web scaled",
        ),
        (
            patch({"metadata": {"labels": {"a": "b"}}}, "merge"),
            DEPLOYMENT,
            "deployment.apps/web labeled",
        ),
        (
            patch({"metadata": {"annotations": {"a": None}}}, "merge"),
            DEPLOYMENT,
            "deployment.apps/web annotated",
        ),
        (
            patch({"spec": {"replicas": 1}, "metadata": {"labels": {}}}),
            DEPLOYMENT,
            "deployment.apps/web patched",
        ),
        (patch(DEPLOYMENT, "apply"), DEPLOYMENT, "deployment.apps/web configured"),
        (patch({"spec": {"paused": True}}), DEPLOYMENT, "deployment.apps/web paused"),
        (
            patch(RESTART, dry_run=True),
            DEPLOYMENT,
            "deployment.apps/web restarted (server dry run)",
        ),
        (
            R(
                "patch",
                "nodes",
                "",
                "v1",
                name="w1",
                body={"spec": {"unschedulable": True}},
                patch_type="strategic",
            ),
            {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "w1"}},
            "node/w1 cordoned",
        ),
        (
            R(
                "create",
                "configmaps",
                "",
                "v1",
                namespace="prod",
                body={"metadata": {"generateName": "cfg-"}},
            ),
            {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cfg-x7k"}},
            "configmap/cfg-x7k created",
        ),
        (
            R("update", "deployments", "apps", "v1", name="web", body=DEPLOYMENT),
            DEPLOYMENT,
            "deployment.apps/web replaced",
        ),
        (
            R("delete", "pods", "", "v1", namespace="prod", name="x"),
            {"kind": "Status", "status": "Success", "details": {"name": "x", "kind": "pods"}},
            'pod "x" deleted',
        ),
        (
            R("delete", "deployments", "apps", "v1", namespace="prod", name="web"),
            DEPLOYMENT,
            'deployment.apps "web" deleted',
        ),
        (
            R("delete", "networkpolicies", "networking.k8s.io", name="deny"),
            None,
            'networkpolicy.networking.k8s.io "deny" deleted',
        ),
        (
            R("deletecollection", "pods", "", "v1", namespace="prod", label_selector="app=x"),
            podlist(pod("a"), pod("b")),
            'pod "a" deleted\npod "b" deleted',
        ),
        (R("deletecollection", "pods", namespace="prod"), podlist(), "No resources found"),
    ],
)
def test_mutation_confirmations(request_: R, response: Any, expected: str) -> None:
    assert render_result(request_, response, now=NOW) == expected


def test_mutation_with_yaml_output_prints_object() -> None:
    assert (
        yaml.safe_load(render_result(patch(RESTART), DEPLOYMENT, "yaml", now=NOW))["kind"]
        == "Deployment"
    )


# errors


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (
            403,
            'pods "web" is forbidden: User "system:serviceaccount:infraagent:a" cannot delete resource "pods"',
            'Error from server (Forbidden): pods "web" is forbidden: User "system:serviceaccount:infraagent:a" cannot delete resource "pods"',
        ),
        (404, 'pods "web" not found', 'Error from server (NotFound): pods "web" not found'),
        (404, "", 'Error from server (NotFound): pod "web" not found'),
        (
            409,
            "the object has been modified",
            "Error from server (Conflict): the object has been modified",
        ),
        (
            409,
            'pods "web" already exists',
            'Error from server (AlreadyExists): pods "web" already exists',
        ),
        (
            422,
            'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1',
            'Error from server (Invalid): Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1',
        ),
        (418, "teapot", "Error from server (418): teapot"),
        (
            403,
            json.dumps({"kind": "Status", "reason": "Forbidden", "message": "nope", "code": 403}),
            "Error from server (Forbidden): nope",
        ),
        (422, "{not json", "Error from server (Invalid): {not json"),
    ],
)
def test_errors_are_tool_results(status: int, message: str, expected: str) -> None:
    out = render_error(R("delete", "pods", "", "v1", namespace="prod", name="web"), status, message)
    assert out.is_error
    assert out.text == expected


def test_error_never_raises_on_garbage() -> None:
    out = render_error(R("get", "pods"), 500, None)  # type: ignore[arg-type]
    assert out.is_error
    assert out.text.startswith("Error from server (InternalError)")


def test_garbage_responses_do_not_crash() -> None:
    weird = {"kind": "PodList", "items": [{"metadata": None, "status": "x", "spec": []}, 42]}
    assert render_result(LIST_PODS, weird, now=NOW).splitlines()[0].startswith("NAME")
    assert render_result(R("get", "pods", name="x"), None, now=NOW) == "null"
