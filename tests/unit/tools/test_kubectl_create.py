"""``create <kind>`` becomes one create whose body is the object kubectl would send, named by
a ``<Kind>.<version>.<group>`` token; local files are refused and unknown kinds too."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.models.requests import KubeRequest as R
from infraagent.models.requests import ParseError
from infraagent.tools.kubectl import parse_kubectl

RBAC = "rbac.authorization.k8s.io"


def made(token: str, body: dict[str, Any], **kw: Any) -> R:
    return R("create", token, name=body["metadata"]["name"], body=body, **kw)


def deployment(
    name: str, replicas: int, containers: list[Any], namespace: str | None = None
) -> Any:
    meta: dict[str, Any] = {"name": name, "labels": {"app": name}}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    }


CASES: list[tuple[str, list[R]]] = [
    (
        "create namespace team-a",
        [
            made(
                "Namespace.v1.",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
            )
        ],
    ),
    (
        "create ns team-a",
        [
            made(
                "Namespace.v1.",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
            )
        ],
    ),
    (
        "create sa robot -n ci",
        [
            made(
                "ServiceAccount.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "robot", "namespace": "ci"},
                },
                namespace="ci",
            )
        ],
    ),
    (
        "create deployment web --image=registry.example.com/team/nginx:1.25 --replicas=3 "
        "--port=80 -n shop",
        [
            made(
                "Deployment.v1.apps",
                deployment(
                    "web",
                    3,
                    [
                        {
                            "name": "nginx",
                            "image": "registry.example.com/team/nginx:1.25",
                            "ports": [{"containerPort": 80}],
                        }
                    ],
                    "shop",
                ),
                namespace="shop",
            )
        ],
    ),
    (
        "create deploy web --image=busybox -- sleep 3600",
        [
            made(
                "Deployment.v1.apps",
                deployment(
                    "web",
                    1,
                    [{"name": "busybox", "image": "busybox", "command": ["sleep", "3600"]}],
                ),
            )
        ],
    ),
    (
        "create deployment web --image=app:1 --image=app:2 -r 0",
        [
            made(
                "Deployment.v1.apps",
                deployment(
                    "web",
                    0,
                    [{"name": "app", "image": "app:1"}, {"name": "app-2", "image": "app:2"}],
                ),
            )
        ],
    ),
    (
        "create configmap cfg --from-literal=a=1 --from-literal=b=x=y --append-hash",
        [
            made(
                "ConfigMap.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "cfg"},
                    "data": {"a": "1", "b": "x=y"},
                },
                options=frozenset({"append-hash"}),
            )
        ],
    ),
    (
        "create secret generic s --from-literal=password=hunter2 --type=Opaque",
        [
            made(
                "Secret.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "s"},
                    "type": "Opaque",
                    "data": {"password": "aHVudGVyMg=="},
                },
            )
        ],
    ),
    (
        "create service clusterip web --tcp=80:8080 --tcp=443",
        [
            made(
                "Service.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web", "labels": {"app": "web"}},
                    "spec": {
                        "type": "ClusterIP",
                        "selector": {"app": "web"},
                        "ports": [
                            {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080},
                            {"name": "443", "port": 443, "protocol": "TCP", "targetPort": 443},
                        ],
                    },
                },
            )
        ],
    ),
    (
        "create svc nodeport web --tcp=80:http --node-port=30080",
        [
            made(
                "Service.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web", "labels": {"app": "web"}},
                    "spec": {
                        "type": "NodePort",
                        "selector": {"app": "web"},
                        "ports": [
                            {
                                "name": "80-http",
                                "port": 80,
                                "protocol": "TCP",
                                "targetPort": "http",
                                "nodePort": 30080,
                            }
                        ],
                    },
                },
            )
        ],
    ),
    (
        "create service externalname db --external-name=db.example.com",
        [
            made(
                "Service.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "db", "labels": {"app": "db"}},
                    "spec": {
                        "type": "ExternalName",
                        "selector": {"app": "db"},
                        "externalName": "db.example.com",
                    },
                },
            )
        ],
    ),
    (
        "create job once --image=busybox -- echo hi",
        [
            made(
                "Job.v1.batch",
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": "once"},
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "once", "image": "busybox", "command": ["echo", "hi"]}
                                ],
                                "restartPolicy": "Never",
                            }
                        }
                    },
                },
            )
        ],
    ),
    (
        "create job once --from=cronjob/nightly -n ops",
        [
            R("get", "cronjob", name="nightly", namespace="ops"),
            made(
                "Job.v1.batch",
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "name": "once",
                        "namespace": "ops",
                        "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                    },
                    "spec": {},
                },
                namespace="ops",
                options=frozenset({"from=cronjob/nightly"}),
            ),
        ],
    ),
    (
        "create cronjob nightly --image=busybox --schedule='0 3 * * *' --restart=Never -- backup",
        [
            made(
                "CronJob.v1.batch",
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "metadata": {"name": "nightly"},
                    "spec": {
                        "schedule": "0 3 * * *",
                        "jobTemplate": {
                            "metadata": {"name": "nightly"},
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "nightly",
                                                "image": "busybox",
                                                "command": ["backup"],
                                            }
                                        ],
                                        "restartPolicy": "Never",
                                    }
                                }
                            },
                        },
                    },
                },
            )
        ],
    ),
    (
        "create ingress web --rule='shop.example.com/api*=api:80,tls=shop-tls' "
        "--class=nginx --annotation=a=b",
        [
            made(
                "Ingress.v1.networking.k8s.io",
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "Ingress",
                    "metadata": {"name": "web", "annotations": {"a": "b"}},
                    "spec": {
                        "ingressClassName": "nginx",
                        "rules": [
                            {
                                "host": "shop.example.com",
                                "http": {
                                    "paths": [
                                        {
                                            "path": "/api",
                                            "pathType": "Prefix",
                                            "backend": {
                                                "service": {"name": "api", "port": {"number": 80}}
                                            },
                                        }
                                    ]
                                },
                            }
                        ],
                        "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                    },
                },
            )
        ],
    ),
    (
        "create role reader --verb=get,list --resource=pods,deployments.apps,pods/log",
        [
            made(
                f"Role.v1.{RBAC}",
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "Role",
                    "metadata": {"name": "reader"},
                    "rules": [
                        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                        {
                            "apiGroups": ["apps"],
                            "resources": ["deployments"],
                            "verbs": ["get", "list"],
                        },
                        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
                    ],
                },
            )
        ],
    ),
    (
        "create clusterrole all --verb='*' --resource='*' --non-resource-url=/healthz",
        [
            made(
                f"ClusterRole.v1.{RBAC}",
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": "all"},
                    "rules": [
                        {"apiGroups": [""], "resources": ["*"], "verbs": ["*"]},
                        {"nonResourceURLs": ["/healthz"], "verbs": ["*"]},
                    ],
                },
            )
        ],
    ),
    (
        "create rolebinding rb --clusterrole=edit --user=bob --group=devs "
        "--serviceaccount=ci:robot -n app",
        [
            made(
                f"RoleBinding.v1.{RBAC}",
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": "rb", "namespace": "app"},
                    "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "edit"},
                    "subjects": [
                        {"kind": "User", "apiGroup": RBAC, "name": "bob"},
                        {"kind": "Group", "apiGroup": RBAC, "name": "devs"},
                        {"kind": "ServiceAccount", "namespace": "ci", "name": "robot"},
                    ],
                },
                namespace="app",
            )
        ],
    ),
    (
        "create clusterrolebinding root --clusterrole=cluster-admin --serviceaccount=agents:me",
        [
            made(
                f"ClusterRoleBinding.v1.{RBAC}",
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "root"},
                    "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"kind": "ServiceAccount", "namespace": "agents", "name": "me"}],
                },
            )
        ],
    ),
    (
        "create token robot --audience=vault --duration=1h -n ci",
        [
            R(
                "create",
                "serviceaccounts",
                name="robot",
                subresource="token",
                namespace="ci",
                body={
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": {"audiences": ["vault"]},
                },
                options=frozenset({"duration=1h"}),
            )
        ],
    ),
    (
        "create priorityclass high --value=1000 --description='for prod'",
        [
            made(
                "PriorityClass.v1.scheduling.k8s.io",
                {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": "high"},
                    "value": 1000,
                    "globalDefault": False,
                    "preemptionPolicy": "PreemptLowerPriority",
                    "description": "for prod",
                },
            )
        ],
    ),
    (
        "create quota q --hard=cpu=1,pods=2 --scopes=BestEffort",
        [
            made(
                "ResourceQuota.v1.",
                {
                    "apiVersion": "v1",
                    "kind": "ResourceQuota",
                    "metadata": {"name": "q"},
                    "spec": {"hard": {"cpu": "1", "pods": "2"}, "scopes": ["BestEffort"]},
                },
            )
        ],
    ),
    (
        "create pdb web --selector=app=web --max-unavailable=1",
        [
            made(
                "PodDisruptionBudget.v1.policy",
                {
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": "web"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1},
                },
            )
        ],
    ),
    (
        "create deployment web --image=nginx --dry-run=client -o yaml",
        [
            made(
                "Deployment.v1.apps",
                deployment("web", 1, [{"name": "nginx", "image": "nginx"}]),
                dry_run=True,
            )
        ],
    ),
]


@pytest.mark.parametrize(("command", "expected"), CASES)
def test_create(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        ("create configmap cfg --from-file=./conf", "parse/file-input"),
        ("create configmap cfg --from-env-file=.env", "parse/file-input"),
        ("create secret generic s --from-file=key=./id_rsa", "parse/file-input"),
        ("create secret tls t --cert=tls.crt --key=tls.key", "parse/file-input"),
        ("create secret docker-registry r --from-file=.dockerconfigjson=x", "parse/file-input"),
        ("create foo bar", "parse/unknown-subcommand"),
        ("create secret opaque s", "parse/unknown-subcommand"),
        ("create service headless web", "parse/unknown-subcommand"),
        ("create secret", "parse/syntax"),
        ("create deployment web", "parse/syntax"),
        ("create deployment --image=x", "parse/syntax"),
        ("create deployment a b --image=x", "parse/syntax"),
        ("create deployment web --image=a --image=b -- sleep 1", "parse/syntax"),
        ("create deployment web --image=x --replicas=-1", "parse/syntax"),
        ("create configmap cfg --from-literal=novalue", "parse/syntax"),
        ("create configmap cfg --from-literal='bad key=1'", "parse/syntax"),
        ("create configmap cfg --from-literal=a=1 --from-literal=a=2", "parse/syntax"),
        ("create namespace a -- extra", "parse/syntax"),
        ("create secret tls t", "parse/syntax"),
        ("create secret docker-registry r --docker-username=u", "parse/syntax"),
        ("create service clusterip web", "parse/syntax"),
        ("create service clusterip web --tcp=http", "parse/syntax"),
        ("create service externalname db", "parse/syntax"),
        ("create job once", "parse/syntax"),
        ("create job once --from=deploy/web", "parse/syntax"),
        ("create job once --from=cronjob/x --image=y", "parse/syntax"),
        ("create cronjob c --image=x", "parse/syntax"),
        ("create cronjob c --image=x --schedule='* * * * *' --restart=Always", "parse/syntax"),
        ("create ingress web", "parse/syntax"),
        ("create ingress web --rule=nohostpath", "parse/syntax"),
        ("create ingress web --rule='a.com/=svc'", "parse/syntax"),
        ("create ingress web --rule='a.com/=svc:80,ssl'", "parse/syntax"),
        ("create role r --resource=pods", "parse/syntax"),
        ("create role r --verb=get", "parse/syntax"),
        ("create clusterrole r --verb=get", "parse/syntax"),
        ("create rolebinding rb --user=bob", "parse/syntax"),
        ("create rolebinding rb --role=a --clusterrole=b", "parse/syntax"),
        ("create rolebinding rb --clusterrole=a --serviceaccount=robot", "parse/syntax"),
        ("create clusterrolebinding crb --role=a", "parse/unknown-flag"),
        ("create pdb web --min-available=1", "parse/syntax"),
        ("create pdb web --selector=app=web --min-available=1 --max-unavailable=1", "parse/syntax"),
        ("create pdb web --selector='app in (a)' --min-available=1", "parse/syntax"),
        ("create pdb web --selector=app=web --min-available=half", "parse/syntax"),
        ("create priorityclass p --value=high", "parse/syntax"),
        ("create deployment web --image=x --edit", "parse/unknown-flag"),
        ("create deployment web --image=x -A", "parse/unknown-flag"),
    ],
)
def test_malformed_creates_are_refused(command: str, rule: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == rule, caught.value.reason
