"""Node sub-commands: cordon and uncordon patch the node; drain cordons and evicts every pod
on it; taint patches the node's taints and marks NoExecute (which evicts) in the options."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.models.requests import KubeRequest as R
from infraagent.models.requests import ParseError
from infraagent.tools.kubectl import parse_kubectl

EVICTION = {"apiVersion": "policy/v1", "kind": "Eviction"}


def cordon(name: str | None, flag: bool = True, **kw: Any) -> R:
    body = {"spec": {"unschedulable": flag}}
    return R("patch", "nodes", name=name, body=body, patch_type="strategic", **kw)


def evict(node: str | None, options: set[str], body: Any = None, **kw: Any) -> R:
    return R(
        "create",
        "pods",
        subresource="eviction",
        all_namespaces=True,
        field_selector=f"spec.nodeName={node}" if node else None,
        body=body or EVICTION,
        options=frozenset(options),
        **kw,
    )


def taint(
    name: str | None, taints: list[dict[str, str]], options: set[str] | None = None, **kw: Any
) -> R:
    body = {"spec": {"taints": taints}}
    return R(
        "patch",
        "nodes",
        name=name,
        body=body,
        patch_type="strategic",
        options=frozenset(options or ()),
        **kw,
    )


CASES: list[tuple[str, list[R]]] = [
    ("cordon n1", [cordon("n1")]),
    ("cordon n1 n2 --dry-run=server", [cordon("n1", dry_run=True), cordon("n2", dry_run=True)]),
    ("cordon -l pool=a", [cordon(None, label_selector="pool=a")]),
    ("uncordon n1", [cordon("n1", False)]),
    (
        "drain n1 --ignore-daemonsets --delete-emptydir-data",
        [
            cordon("n1", options=frozenset({"drain"})),
            evict("n1", {"drain", "ignore-daemonsets", "delete-emptydir-data"}),
        ],
    ),
    (
        "drain n1 --force --grace-period=30 --timeout=5m --pod-selector=app!=db",
        [
            cordon("n1", options=frozenset({"drain"})),
            evict(
                "n1",
                {"drain", "force", "grace-period=30"},
                {**EVICTION, "deleteOptions": {"gracePeriodSeconds": 30}},
                label_selector="app!=db",
            ),
        ],
    ),
    (
        "drain n1 n2 --delete-local-data",
        [
            cordon("n1", options=frozenset({"drain"})),
            evict("n1", {"drain", "delete-emptydir-data"}),
            cordon("n2", options=frozenset({"drain"})),
            evict("n2", {"drain", "delete-emptydir-data"}),
        ],
    ),
    (
        "drain n1 --disable-eviction --force",
        [
            cordon("n1", options=frozenset({"drain"})),
            R(
                "deletecollection",
                "pods",
                all_namespaces=True,
                field_selector="spec.nodeName=n1",
                options=frozenset({"drain", "disable-eviction", "force"}),
            ),
        ],
    ),
    (
        "drain -l pool=a",
        [
            cordon(None, label_selector="pool=a", options=frozenset({"drain"})),
            evict(None, {"drain", "node-selector=pool=a"}),
        ],
    ),
    (
        "taint nodes n1 dedicated=gpu:NoSchedule",
        [taint("n1", [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])],
    ),
    (
        "taint node n1 maintenance:NoExecute --overwrite",
        [
            taint(
                "n1",
                [{"key": "maintenance", "effect": "NoExecute"}],
                {"overwrite", "taint-effect=NoExecute"},
            )
        ],
    ),
    (
        "taint nodes n1 a:NoExecute- b- c=d:PreferNoSchedule",
        [
            taint(
                "n1",
                [
                    {"key": "a", "effect": "NoExecute", "$patch": "delete"},
                    {"key": "b", "$patch": "delete"},
                    {"key": "c", "value": "d", "effect": "PreferNoSchedule"},
                ],
            )
        ],
    ),
    (
        "taint nodes --all spot=true:NoSchedule",
        [taint(None, [{"key": "spot", "value": "true", "effect": "NoSchedule"}], {"all"})],
    ),
    (
        "taint nodes -l pool=a k=v:NoExecute",
        [
            taint(
                None,
                [{"key": "k", "value": "v", "effect": "NoExecute"}],
                {"taint-effect=NoExecute"},
                label_selector="pool=a",
            )
        ],
    ),
]


@pytest.mark.parametrize(("command", "expected"), CASES)
def test_node_commands(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


def test_drain_is_an_eviction_of_every_pod_on_the_node_in_every_namespace() -> None:
    _, pods = parse_kubectl("drain worker-3 -n ignored")
    assert pods.verb == "create" and pods.subresource == "eviction"
    assert pods.all_namespaces and pods.namespace is None and pods.name is None
    assert pods.field_selector == "spec.nodeName=worker-3"
    assert "drain" in pods.options


def test_only_an_added_no_execute_taint_is_marked() -> None:
    assert "taint-effect=NoExecute" in parse_kubectl("taint nodes n1 k:NoExecute")[0].options
    assert parse_kubectl("taint nodes n1 k:NoExecute-")[0].options == frozenset()
    assert parse_kubectl("taint nodes n1 k=v:NoSchedule")[0].options == frozenset()


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        ("cordon", "parse/syntax"),
        ("cordon n1 -l a=b", "parse/syntax"),
        ("cordon n/1", "parse/syntax"),
        ("drain", "parse/syntax"),
        ("drain n1 --grace-period=soon", "parse/syntax"),
        ("drain n1 -A", "parse/unknown-flag"),
        ("taint nodes n1", "parse/syntax"),
        ("taint nodes n1 k=v", "parse/syntax"),
        ("taint nodes n1 k=v:Sometimes", "parse/syntax"),
        ("taint nodes n1 k=v:NoSchedule:x", "parse/syntax"),
        ("taint nodes n1 k=v=w:NoSchedule", "parse/syntax"),
        ("taint nodes n1 k=v:NoExecute-", "parse/syntax"),
        ("taint nodes n1 'bad key':NoSchedule", "parse/syntax"),
        ("taint nodes n1 k:NoSchedule k:NoSchedule-", "parse/syntax"),
        ("taint nodes k:NoSchedule", "parse/syntax"),
        ("taint nodes n1 --all k:NoSchedule", "parse/syntax"),
        ("taint pods web k:NoSchedule", "parse/syntax"),
        ("taint node/n1 k:NoSchedule", "parse/syntax"),
        ("taint nodes n1 k:NoSchedule n2", "parse/syntax"),
    ],
)
def test_malformed_node_commands_are_refused(command: str, rule: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == rule, caught.value.reason
