"""``delete`` expands to one delete per (type, name), or one deletecollection per type with a
selector or --all, and records every flag that changes the effect in normalised options."""

from __future__ import annotations

import pytest

from infraagent.models.requests import KubeRequest as R
from infraagent.models.requests import ParseError
from infraagent.tools.kubectl import parse_kubectl


def opts(*names: str) -> frozenset[str]:
    return frozenset(names)


CASES: list[tuple[str, list[R]]] = [
    ("delete pvc data-0 -n db", [R("delete", "pvc", name="data-0", namespace="db")]),
    ("delete PersistentVolumeClaim data-0", [R("delete", "PersistentVolumeClaim", name="data-0")]),
    (
        "delete persistentvolumeclaims.v1. data-0",
        [R("delete", "persistentvolumeclaims.v1.", name="data-0")],
    ),
    ("delete pod/a svc/b", [R("delete", "pod", name="a"), R("delete", "svc", name="b")]),
    ("delete pods a b", [R("delete", "pods", name="a"), R("delete", "pods", name="b")]),
    (
        "delete pods,svc a b",
        [
            R("delete", "pods", name="a"),
            R("delete", "pods", name="b"),
            R("delete", "svc", name="a"),
            R("delete", "svc", name="b"),
        ],
    ),
    ("delete pods -l app=x", [R("deletecollection", "pods", label_selector="app=x")]),
    (
        "delete pods,services -l app=x",
        [
            R("deletecollection", "pods", label_selector="app=x"),
            R("deletecollection", "services", label_selector="app=x"),
        ],
    ),
    ("delete pods --all -n x", [R("deletecollection", "pods", namespace="x", options=opts("all"))]),
    (
        "delete pvc --all -A",
        [R("deletecollection", "pvc", all_namespaces=True, options=opts("all"))],
    ),
    (
        "delete pods --field-selector=status.phase=Failed -A",
        [R("deletecollection", "pods", all_namespaces=True, field_selector="status.phase=Failed")],
    ),
    (
        "delete pods -l app=x --field-selector=status.phase=Failed",
        [
            R(
                "deletecollection",
                "pods",
                label_selector="app=x",
                field_selector="status.phase=Failed",
            )
        ],
    ),
    (
        "delete pod web --force",
        [R("delete", "pod", name="web", options=opts("force", "grace-period=0"))],
    ),
    (
        "delete pod web --force --grace-period=0",
        [R("delete", "pod", name="web", options=opts("force", "grace-period=0"))],
    ),
    (
        "delete pod web --grace-period=0",
        [R("delete", "pod", name="web", options=opts("grace-period=1"))],
    ),
    (
        "delete pod web --grace-period=30",
        [R("delete", "pod", name="web", options=opts("grace-period=30"))],
    ),
    ("delete pod web --now", [R("delete", "pod", name="web", options=opts("grace-period=1"))]),
    (
        "delete sts db --cascade=orphan",
        [R("delete", "sts", name="db", options=opts("cascade=orphan"))],
    ),
    (
        "delete sts db --cascade=false",
        [R("delete", "sts", name="db", options=opts("cascade=orphan"))],
    ),
    (
        "delete sts db --cascade=foreground",
        [R("delete", "sts", name="db", options=opts("cascade=foreground"))],
    ),
    ("delete sts db --cascade", [R("delete", "sts", name="db")]),
    ("delete sts db --cascade=background --cascade=true", [R("delete", "sts", name="db")]),
    (
        "delete pods --all --force --cascade=orphan",
        [
            R(
                "deletecollection",
                "pods",
                options=opts("all", "force", "grace-period=0", "cascade=orphan"),
            )
        ],
    ),
    (
        "delete ns prod --wait=false --timeout=30s --ignore-not-found -o name",
        [R("delete", "ns", name="prod")],
    ),
    ("delete pod web --dry-run=server", [R("delete", "pod", name="web", dry_run=True)]),
    ("delete pod web --dry-run=none", [R("delete", "pod", name="web")]),
    ("delete pod -- web", [R("delete", "pod", name="web")]),
]


@pytest.mark.parametrize(("command", "expected"), CASES)
def test_delete(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        ("delete", "parse/syntax"),
        ("delete pods", "parse/syntax"),
        ("delete pods,svc", "parse/syntax"),
        ("delete pods -l ''", "parse/syntax"),
        ("delete pods -l '  '", "parse/syntax"),
        ("delete pods --field-selector=", "parse/syntax"),
        ("delete pods web -l app=x", "parse/syntax"),
        ("delete pod/web --all", "parse/syntax"),
        ("delete pods --all -l app=x", "parse/syntax"),
        ("delete pods --all --field-selector=a=b", "parse/syntax"),
        ("delete pod web -A", "parse/syntax"),
        ("delete pod/web svc", "parse/syntax"),
        ("delete pod/ web", "parse/syntax"),
        ("delete pods, -l a=b", "parse/syntax"),
        ("delete pod web --now --grace-period=5", "parse/syntax"),
        ("delete pod web --force --grace-period=5", "parse/syntax"),
        ("delete pod web --grace-period=soon", "parse/syntax"),
        ("delete pod web --cascade=sometimes", "parse/syntax"),
        ("delete pod web -o yaml", "parse/syntax"),
        ("delete pod web -i", "parse/unknown-flag"),
        ("delete pod web --raw=/api/v1/namespaces/x", "parse/identity-flag"),
        ("delete -f pvc.yaml", "parse/file-input"),
        ("delete -f https://example.com/x.yaml", "parse/file-input"),
        ("delete --filename=x.yaml", "parse/file-input"),
        ("delete -f -", "parse/file-input"),
        ("delete -k ./overlay", "parse/file-input"),
        ("delete --kustomize=./overlay", "parse/file-input"),
        ("delete -R -f -", "parse/file-input"),
    ],
)
def test_malformed_deletes_are_refused(command: str, rule: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == rule, caught.value.reason


def test_a_delete_never_returns_fewer_requests_than_objects() -> None:
    requests = parse_kubectl("delete pvc,pv,ns,secret a b c")
    assert len(requests) == 12
    assert {(r.resource, r.name) for r in requests} == {
        (kind, name) for kind in ("pvc", "pv", "ns", "secret") for name in ("a", "b", "c")
    }
