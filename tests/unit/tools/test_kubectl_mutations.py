"""Patch-shaped mutations (rollout, scale, annotate, label, patch, set) become patches whose
body says exactly what changes, so the engine can judge the effect."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.models.requests import KubeRequest as R
from infraagent.models.requests import ParseError
from infraagent.tools.kubectl import parse_kubectl

RESTART = {
    "spec": {
        "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}
    }
}
ALL = frozenset({"all"})


def patch(
    resource: str, name: str | None, body: Any, patch_type: str = "strategic", **kw: Any
) -> R:
    return R("patch", resource, name=name, body=body, patch_type=patch_type, **kw)


def template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


ROLLOUT: list[tuple[str, list[R]]] = [
    ("rollout restart deploy/web", [patch("deploy", "web", RESTART)]),
    (
        "rollout restart deployment web api -n x",
        [
            patch("deployment", "web", RESTART, namespace="x"),
            patch("deployment", "api", RESTART, namespace="x"),
        ],
    ),
    (
        "rollout restart sts/db ds/agent",
        [patch("sts", "db", RESTART), patch("ds", "agent", RESTART)],
    ),
    ("rollout restart deployment", [patch("deployment", None, RESTART, options=ALL)]),
    ("rollout restart deploy -l app=x", [patch("deploy", None, RESTART, label_selector="app=x")]),
    (
        "rollout restart deploy/web --dry-run=server",
        [patch("deploy", "web", RESTART, dry_run=True)],
    ),
    ("rollout pause deploy/web", [patch("deploy", "web", {"spec": {"paused": True}})]),
    ("rollout resume deploy/web", [patch("deploy", "web", {"spec": {"paused": False}})]),
    (
        "rollout undo deploy/web",
        [patch("deploy", "web", {"rollback": {"toRevision": 0}}, options=frozenset({"undo"}))],
    ),
    (
        "rollout undo deploy/web --to-revision=3",
        [patch("deploy", "web", {"rollback": {"toRevision": 3}}, options=frozenset({"undo"}))],
    ),
]

SCALE: list[tuple[str, list[R]]] = [
    (
        "scale deploy/web --replicas=3",
        [patch("deploy", "web", {"spec": {"replicas": 3}}, "merge", subresource="scale")],
    ),
    (
        "scale deploy web --replicas 0 -n x",
        [
            patch(
                "deploy",
                "web",
                {"spec": {"replicas": 0}},
                "merge",
                subresource="scale",
                namespace="x",
            )
        ],
    ),
    (
        "scale sts db --replicas=00",
        [patch("sts", "db", {"spec": {"replicas": 0}}, "merge", subresource="scale")],
    ),
    (
        "scale deploy web --replicas=010",
        [patch("deploy", "web", {"spec": {"replicas": 8}}, "merge", subresource="scale")],
    ),
    (
        "scale deploy web api --replicas=2 --current-replicas=1 --resource-version=7",
        [
            patch(
                "deploy",
                name,
                {"spec": {"replicas": 2}},
                "merge",
                subresource="scale",
                options=frozenset({"current-replicas=1", "resource-version=7"}),
            )
            for name in ("web", "api")
        ],
    ),
    (
        "scale deploy --all --replicas=1",
        [
            patch(
                "deploy", None, {"spec": {"replicas": 1}}, "merge", subresource="scale", options=ALL
            )
        ],
    ),
    (
        "scale deploy -l app=x --replicas=1",
        [
            patch(
                "deploy",
                None,
                {"spec": {"replicas": 1}},
                "merge",
                subresource="scale",
                label_selector="app=x",
            )
        ],
    ),
    (
        "scale deploy/web --replicas=0 --dry-run=client",
        [
            patch(
                "deploy",
                "web",
                {"spec": {"replicas": 0}},
                "merge",
                subresource="scale",
                dry_run=True,
            )
        ],
    ),
]

METADATA: list[tuple[str, list[R]]] = [
    (
        "annotate pods web a=b c- --overwrite",
        [
            patch(
                "pods",
                "web",
                {"metadata": {"annotations": {"a": "b", "c": None}}},
                "merge",
                options=frozenset({"overwrite"}),
            )
        ],
    ),
    (
        "annotate deploy/web note='x=y z'",
        [patch("deploy", "web", {"metadata": {"annotations": {"note": "x=y z"}}}, "merge")],
    ),
    (
        "label pods web app=x tier- -n prod --resource-version=5",
        [
            patch(
                "pods",
                "web",
                {"metadata": {"labels": {"app": "x", "tier": None}}},
                "merge",
                namespace="prod",
                options=frozenset({"resource-version=5"}),
            )
        ],
    ),
    (
        "label pods --all app=x",
        [patch("pods", None, {"metadata": {"labels": {"app": "x"}}}, "merge", options=ALL)],
    ),
    (
        "label pods -l a=b app=x -A",
        [
            patch(
                "pods",
                None,
                {"metadata": {"labels": {"app": "x"}}},
                "merge",
                label_selector="a=b",
                all_namespaces=True,
            )
        ],
    ),
    (
        "label nodes n1 n2 example.com/pool=gpu",
        [
            patch("nodes", n, {"metadata": {"labels": {"example.com/pool": "gpu"}}}, "merge")
            for n in ("n1", "n2")
        ],
    ),
    ("label pods web --list", [R("get", "pods", name="web")]),
    ("annotate pods web --list", [R("get", "pods", name="web")]),
]

PATCH: list[tuple[str, list[R]]] = [
    (
        'patch deploy web -p \'{"spec":{"replicas":0}}\'',
        [patch("deploy", "web", {"spec": {"replicas": 0}})],
    ),
    (
        "patch deploy/web --type merge -p 'spec: {replicas: 2}'",
        [patch("deploy", "web", {"spec": {"replicas": 2}}, "merge")],
    ),
    (
        'patch pvc data --type=json -p \'[{"op":"remove","path":"/metadata/finalizers"}]\'',
        [patch("pvc", "data", [{"op": "remove", "path": "/metadata/finalizers"}], "json")],
    ),
    (
        'patch pv pv1 -p \'{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}\'',
        [patch("pv", "pv1", {"spec": {"persistentVolumeReclaimPolicy": "Delete"}})],
    ),
    (
        'patch deploy web --subresource=scale --type=merge -p \'{"spec":{"replicas":1}}\' -n x',
        [
            patch(
                "deploy",
                "web",
                {"spec": {"replicas": 1}},
                "merge",
                subresource="scale",
                namespace="x",
            )
        ],
    ),
    (
        'patch cm a b -p \'{"data":{"k":"v"}}\'',
        [patch("cm", n, {"data": {"k": "v"}}) for n in ("a", "b")],
    ),
    ("patch deploy web -p '{}' --dry-run=server", [patch("deploy", "web", {}, dry_run=True)]),
]

SET: list[tuple[str, list[R]]] = [
    (
        "set image deploy/web nginx=nginx:1.26",
        [
            patch(
                "deploy",
                "web",
                template({"containers": [{"name": "nginx", "image": "nginx:1.26"}]}),
            )
        ],
    ),
    (
        "set image deployment web nginx=nginx:1.26 '*=busybox'",
        [
            patch(
                "deployment",
                "web",
                template(
                    {
                        "containers": [
                            {"name": "nginx", "image": "nginx:1.26"},
                            {"name": "*", "image": "busybox"},
                        ]
                    }
                ),
            )
        ],
    ),
    (
        "set image pod/web app=x:1",
        [patch("pod", "web", {"spec": {"containers": [{"name": "app", "image": "x:1"}]}})],
    ),
    (
        "set image cj/nightly app=x:1",
        [
            patch(
                "cj",
                "nightly",
                {
                    "spec": {
                        "jobTemplate": {
                            "spec": {
                                "template": {
                                    "spec": {"containers": [{"name": "app", "image": "x:1"}]}
                                }
                            }
                        }
                    }
                },
            )
        ],
    ),
    (
        "set image deploy -l app=x app=x:2",
        [
            patch(
                "deploy",
                None,
                template({"containers": [{"name": "app", "image": "x:2"}]}),
                label_selector="app=x",
            )
        ],
    ),
    (
        "set env deploy/web A=1 B- -c app -e C=3",
        [
            patch(
                "deploy",
                "web",
                template(
                    {
                        "containers": [
                            {
                                "name": "app",
                                "env": [
                                    {"name": "A", "value": "1"},
                                    {"name": "B", "$patch": "delete"},
                                    {"name": "C", "value": "3"},
                                ],
                            }
                        ]
                    }
                ),
            )
        ],
    ),
    (
        "set env deploy/web --from=secret/db-creds -n x",
        [
            R("get", "secret", name="db-creds", namespace="x"),
            patch(
                "deploy",
                "web",
                template(
                    {
                        "containers": [
                            {"name": "*", "envFrom": [{"secretRef": {"name": "db-creds"}}]}
                        ]
                    }
                ),
                namespace="x",
            ),
        ],
    ),
    (
        "set env deploy/web --from=configmap/cfg --keys=log-level,port --prefix=APP_",
        [
            R("get", "configmap", name="cfg"),
            patch(
                "deploy",
                "web",
                template(
                    {
                        "containers": [
                            {
                                "name": "*",
                                "env": [
                                    {
                                        "name": "APP_LOG_LEVEL",
                                        "valueFrom": {
                                            "configMapKeyRef": {"name": "cfg", "key": "log-level"}
                                        },
                                    },
                                    {
                                        "name": "APP_PORT",
                                        "valueFrom": {
                                            "configMapKeyRef": {"name": "cfg", "key": "port"}
                                        },
                                    },
                                ],
                            }
                        ]
                    }
                ),
            ),
        ],
    ),
    (
        "set env deploy/web A=1 --overwrite=false",
        [
            patch(
                "deploy",
                "web",
                template({"containers": [{"name": "*", "env": [{"name": "A", "value": "1"}]}]}),
                options=frozenset({"overwrite=false"}),
            )
        ],
    ),
    ("set env deploy/web --list", [R("get", "deploy", name="web")]),
    (
        "set env deploy/web --list --resolve",
        [R("get", "deploy", name="web"), R("list", "secrets"), R("list", "configmaps")],
    ),
    (
        "set resources deploy/web -c app --limits=cpu=200m,memory=512Mi --requests=cpu=100m",
        [
            patch(
                "deploy",
                "web",
                template(
                    {
                        "containers": [
                            {
                                "name": "app",
                                "resources": {
                                    "limits": {"cpu": "200m", "memory": "512Mi"},
                                    "requests": {"cpu": "100m"},
                                },
                            }
                        ]
                    }
                ),
            )
        ],
    ),
]


@pytest.mark.parametrize(("command", "expected"), ROLLOUT)
def test_rollout(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(("command", "expected"), SCALE)
def test_scale(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(("command", "expected"), METADATA)
def test_annotate_and_label(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(("command", "expected"), PATCH)
def test_patch(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(("command", "expected"), SET)
def test_set(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


def test_set_env_from_a_secret_reads_the_secret_before_patching() -> None:
    requests = parse_kubectl("set env deploy/web --from=secrets/api-key --keys=token")
    assert [r.verb for r in requests] == ["get", "patch"]
    assert (requests[0].resource, requests[0].name) == ("secrets", "api-key")


def test_every_request_owns_its_body() -> None:
    first, second = parse_kubectl("rollout restart deploy/a deploy/b")
    assert first.body == second.body and first.body is not second.body


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        ("rollout restart", "parse/syntax"),
        ("rollout restart deploy/web -l a=b", "parse/syntax"),
        ("rollout undo deploy/web --to-revision=-1", "parse/syntax"),
        ("rollout frobnicate deploy/web", "parse/unknown-subcommand"),
        ("rollout", "parse/syntax"),
        ("scale deploy web", "parse/syntax"),
        ("scale deploy web --replicas=-1", "parse/syntax"),
        ("scale deploy web --replicas=two", "parse/syntax"),
        ("scale deploy web --replicas=0x0", "parse/syntax"),
        ("scale deploy web --replicas=1e0", "parse/syntax"),
        ("scale deploy --replicas=1", "parse/syntax"),
        ("scale deploy --all -l a=b --replicas=1", "parse/syntax"),
        ("scale deploy web --replicas=1 -f deploy.yaml", "parse/file-input"),
        ("label pods web", "parse/syntax"),
        ("label pods web app=x app-", "parse/syntax"),
        ("label pods web app=x=y", "parse/syntax"),
        ("label pods web 'bad key=x'", "parse/syntax"),
        ("label pods web app=x pods", "parse/syntax"),
        ("label pods web --list app=x", "parse/syntax"),
        ("label pods app=x", "parse/syntax"),
        ("label pods web app=x --local", "parse/file-input"),
        ("patch deploy web", "parse/syntax"),
        ("patch deploy -p '{}'", "parse/syntax"),
        ("patch deploy web -p '{}' --type=apply", "parse/syntax"),
        ("patch deploy web -p '{}' --subresource=log", "parse/syntax"),
        ("patch deploy web -p '{bad'", "parse/bad-patch"),
        ("patch deploy web -p '[1, 2]'", "parse/bad-patch"),
        ("patch deploy web -p 'just text'", "parse/bad-patch"),
        ('patch deploy web --type=json -p \'{"op":"add"}\'', "parse/bad-patch"),
        ('patch deploy web --type=json -p \'[{"op":"explode","path":"/x"}]\'', "parse/bad-patch"),
        ('patch deploy web -p \'{"a":1,"a":2}\'', "parse/bad-patch"),
        ("patch deploy web -p '{\"a\": NaN}'", "parse/bad-patch"),
        ("patch deploy web -p 'a: !!binary aGVsbG8='", "parse/bad-patch"),
        ("patch deploy web -p 'a: &x [*x]'", "parse/bad-patch"),
        ("patch deploy web --patch-file=p.json", "parse/file-input"),
        ("set image deploy/web", "parse/syntax"),
        ("set image deploy/web app", "parse/syntax"),
        ("set image deploy/web app=", "parse/syntax"),
        ("set env deploy/web", "parse/syntax"),
        ("set env deploy/web -", "parse/file-input"),
        ("set env deploy/web '1BAD=x'", "parse/syntax"),
        ("set env deploy/web --from=deploy/other", "parse/syntax"),
        ("set env deploy/web --list A=1", "parse/syntax"),
        ("set resources deploy/web", "parse/syntax"),
        ("set resources deploy/web --limits=cpu", "parse/syntax"),
        ("set selector svc/web app=x", "parse/unknown-subcommand"),
        ("set", "parse/syntax"),
    ],
)
def test_malformed_mutations_are_refused(command: str, rule: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == rule, caught.value.reason
