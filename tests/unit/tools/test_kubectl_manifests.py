"""``apply``/``create``/``replace``/``delete -f -`` read only the manifest carried inline in
the tool input; every object of it becomes one request (two for ``replace --force``)."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.models.requests import KubeRequest as R
from infraagent.models.requests import ParseError
from infraagent.tools.kubectl import parse_kubectl

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
"""
PVC = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  resources: {requests: {storage: 1Gi}}
"""
MULTI = f"---\n{DEPLOYMENT}---\n\n---\n{PVC}"
LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: snapshot.storage.k8s.io/v1
  kind: VolumeSnapshotList
  items:
  - apiVersion: snapshot.storage.k8s.io/v1
    kind: VolumeSnapshot
    metadata: {name: snap, namespace: db}
"""
DEPLOYMENT_BODY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 2},
}
PVC_BODY = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "data"},
    "spec": {"resources": {"requests": {"storage": "1Gi"}}},
}


def apply(token: str, name: str, body: Any, **kw: Any) -> R:
    return R("patch", token, name=name, body=body, patch_type="apply", **kw)


def test_apply_is_a_server_side_apply_patch_per_object() -> None:
    assert parse_kubectl("apply -f -", MULTI) == [
        apply("Deployment.v1.apps", "web", DEPLOYMENT_BODY, namespace="shop"),
        apply("PersistentVolumeClaim.v1.", "data", PVC_BODY),
    ]


def test_apply_takes_the_namespace_from_the_object_else_from_n() -> None:
    requests = parse_kubectl("apply -f - -n shop --server-side --force-conflicts", MULTI)
    assert [r.namespace for r in requests] == ["shop", "shop"]
    assert requests[1].options == frozenset({"server-side", "force-conflicts"})


def test_lists_are_expanded_recursively() -> None:
    requests = parse_kubectl("apply --filename=- --dry-run=server", LIST)
    assert [(r.resource, r.name, r.namespace, r.dry_run) for r in requests] == [
        ("ConfigMap.v1.", "a", None, True),
        ("VolumeSnapshot.v1.snapshot.storage.k8s.io", "snap", "db", True),
    ]


def test_create_from_a_manifest() -> None:
    assert parse_kubectl("create -f -", DEPLOYMENT) == [
        R("create", "Deployment.v1.apps", name="web", namespace="shop", body=DEPLOYMENT_BODY)
    ]


def test_replace_is_an_update_per_object() -> None:
    assert parse_kubectl("replace -f -", PVC) == [
        R("update", "PersistentVolumeClaim.v1.", name="data", body=PVC_BODY)
    ]


def test_replace_force_deletes_then_creates_each_object() -> None:
    assert parse_kubectl("replace --force -f - --grace-period=0 -n shop", MULTI) == [
        R(
            "delete",
            "Deployment.v1.apps",
            name="web",
            namespace="shop",
            options=frozenset({"replace", "force", "grace-period=1"}),
        ),
        R("create", "Deployment.v1.apps", name="web", namespace="shop", body=DEPLOYMENT_BODY),
        R(
            "delete",
            "PersistentVolumeClaim.v1.",
            name="data",
            namespace="shop",
            options=frozenset({"replace", "force", "grace-period=1"}),
        ),
        R("create", "PersistentVolumeClaim.v1.", name="data", namespace="shop", body=PVC_BODY),
    ]


def test_replace_force_alone_is_a_graceful_delete_and_create() -> None:
    assert parse_kubectl("replace --force -f - --cascade=orphan", PVC) == [
        R(
            "delete",
            "PersistentVolumeClaim.v1.",
            name="data",
            options=frozenset({"replace", "force", "cascade=orphan"}),
        ),
        R("create", "PersistentVolumeClaim.v1.", name="data", body=PVC_BODY),
    ]


def test_delete_from_a_manifest_deletes_each_object() -> None:
    assert parse_kubectl("delete -f - --cascade=orphan", MULTI) == [
        R(
            "delete",
            "Deployment.v1.apps",
            name="web",
            namespace="shop",
            options=frozenset({"cascade=orphan"}),
        ),
        R(
            "delete",
            "PersistentVolumeClaim.v1.",
            name="data",
            options=frozenset({"cascade=orphan"}),
        ),
    ]


def test_yaml_timestamps_stay_text() -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {day: 2024-01-01}\n"
    (request,) = parse_kubectl("apply -f -", manifest)
    assert request.body["data"] == {"day": "2024-01-01"}


def test_json_manifests_are_yaml_too() -> None:
    manifest = '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}}'
    assert parse_kubectl("create -f -", manifest)[0].resource == "Namespace.v1."


def test_a_blank_manifest_counts_as_none() -> None:
    assert parse_kubectl("get pods", "  \n") == [R("list", "pods")]


@pytest.mark.parametrize(
    ("command", "manifest", "rule"),
    [
        ("apply -f -", None, "parse/file-input"),
        ("apply -f deploy.yaml", DEPLOYMENT, "parse/file-input"),
        ("apply -f https://example.com/x.yaml", DEPLOYMENT, "parse/file-input"),
        ("apply -f - -f -", DEPLOYMENT, "parse/syntax"),
        ("apply -f - -f x.yaml", DEPLOYMENT, "parse/file-input"),
        ("apply -k .", DEPLOYMENT, "parse/file-input"),
        ("apply", DEPLOYMENT, "parse/syntax"),
        ("apply -f - deploy/web", DEPLOYMENT, "parse/syntax"),
        ("apply -f - --prune -l app=x", DEPLOYMENT, "parse/unknown-flag"),
        ("apply -f - --force", DEPLOYMENT, "parse/unknown-flag"),
        ("apply edit-last-applied deploy/web", None, "parse/forbidden-subcommand"),
        ("apply view-last-applied deploy/web", None, "parse/unknown-subcommand"),
        ("apply -f - -n other", DEPLOYMENT, "parse/bad-manifest"),
        ("create -f", None, "parse/syntax"),
        ("create", None, "parse/syntax"),
        ("replace -f - --grace-period=0", PVC, "parse/syntax"),
        ("replace -f - --timeout=1m", PVC, "parse/syntax"),
        ("replace --force -f - --dry-run=server", PVC, "parse/syntax"),
        ("replace --force -f - --now --grace-period=3", PVC, "parse/syntax"),
        ("delete -f - -l app=x", PVC, "parse/syntax"),
        ("delete -f - --all", PVC, "parse/syntax"),
        ("delete -f - pvc/data", PVC, "parse/syntax"),
        ("delete -f - -A", PVC, "parse/syntax"),
        ("get pods", DEPLOYMENT, "parse/syntax"),
        ("delete pvc data", PVC, "parse/syntax"),
        ("get pods -f -", DEPLOYMENT, "parse/file-input"),
        ("label -f - a=b", DEPLOYMENT, "parse/file-input"),
        ("scale -f - --replicas=0", DEPLOYMENT, "parse/file-input"),
    ],
)
def test_file_input_is_refused_unless_it_is_the_inline_manifest(
    command: str, manifest: str | None, rule: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command, manifest)
    assert caught.value.rule == rule, caught.value.reason


@pytest.mark.parametrize(
    "manifest",
    [
        "kind: ConfigMap\nmetadata: {name: a}\n",
        "apiVersion: v1\nmetadata: {name: a}\n",
        "apiVersion: v1\nkind: ConfigMap\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a/b}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: Bad_NS}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: 7}\n",
        "apiVersion: 'apps/v1/extra'\nkind: Deployment\nmetadata: {name: a}\n",
        "apiVersion: v1\nkind: 'Config Map'\nmetadata: {name: a}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, name: b}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: !!set {a, b}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {1: x}\n",
        "apiVersion: v1\nkind: List\nitems: {}\n",
        "apiVersion: v1\nkind: List\nitems: [[1]]\n",
        "- a\n- b\n",
        "just text",
        "---\n---\n",
        "{{{",
        "a: &a [*a, *a]\n",
        "a: !!python/object/apply:os.system ['id']\n",
        "x" * 1_100_000,
    ],
)
def test_bad_manifests_are_refused(manifest: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl("apply -f -", manifest)
    assert caught.value.rule == "parse/bad-manifest", caught.value.reason


def test_an_alias_bomb_is_refused_quickly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(ParseError) as caught:
        parse_kubectl("apply -f -", bomb)
    assert caught.value.rule == "parse/bad-manifest"
