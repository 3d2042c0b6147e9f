"""Whatever the model writes, the parser either refuses it with a stable parse rule or returns
at least one well-formed, unresolved request; it never crashes and never returns nothing.
Sub-commands outside the supported set are refused."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infraagent.models.requests import KUBE_VERBS, KubeRequest, ParseError
from infraagent.tools.kubectl import parse_kubectl
from infraagent.tools.kubectl.commands import ROOT, Group

PARSE_RULES = {
    "parse/invalid-input",
    "parse/shell-metacharacter",
    "parse/identity-flag",
    "parse/forbidden-subcommand",
    "parse/unknown-subcommand",
    "parse/unknown-flag",
    "parse/file-input",
    "parse/syntax",
    "parse/bad-manifest",
    "parse/bad-patch",
}

SUBCOMMANDS = [
    "get",
    "describe",
    "logs",
    "top",
    "pod",
    "node",
    "events",
    "explain",
    "api-resources",
    "api-versions",
    "version",
    "rollout",
    "status",
    "history",
    "restart",
    "undo",
    "pause",
    "resume",
    "scale",
    "annotate",
    "label",
    "patch",
    "set",
    "image",
    "env",
    "resources",
    "cordon",
    "uncordon",
    "drain",
    "taint",
    "delete",
    "apply",
    "replace",
    "create",
    "deployment",
    "namespace",
    "secret",
    "generic",
    "tls",
    "service",
    "clusterip",
    "job",
    "cronjob",
    "configmap",
    "role",
    "rolebinding",
    "token",
    "pdb",
    "quota",
    "ingress",
    "exec",
    "run",
    "kubectl",
    "frobnicate",
]
TYPES = [
    "pods",
    "pod",
    "pvc",
    "deploy",
    "deploy/web",
    "pods,svc",
    "Deployment.v1.apps",
    "nodes",
    "node",
    "secret/s",
    "cronjob/c",
    "sts/db",
    "all",
    "ns",
    "pod/",
    "a/b/c",
    ",",
]
NAMES = ["web", "db-0", "n1", "-", "--", "", "a b", "..", "x%y"]
FLAGS = [
    "-n",
    "prod",
    "-A",
    "-l",
    "app=x",
    "--all",
    "--force",
    "--grace-period=0",
    "--now",
    "--replicas=0",
    "--replicas",
    "3",
    "-f",
    "--filename=-",
    "-p",
    '{"spec":{"replicas":0}}',
    "[]",
    "--type=json",
    "--type",
    "merge",
    "--dry-run",
    "--dry-run=server",
    "--cascade=orphan",
    "-o",
    "yaml",
    "-w",
    "--field-selector",
    "status.phase=Failed",
    "k=v",
    "k-",
    "k=v:NoExecute",
    "k:NoSchedule-",
    "--from=secret/s",
    "--image=nginx",
    "--schedule=* * * * *",
    "--tcp=80:8080",
    "--from-literal=a=b",
    "--to-revision=2",
    "--limits=cpu=1",
    "-c",
    "app",
    "--ignore-daemonsets",
    "--disable-eviction",
    "--overwrite",
    "--list",
    "--resolve",
    "--server=x",
    "-s",
    "--user=bob",
    "--clusterrole=view",
    "--verb=get",
    "--resource=pods",
    "--selector=app=x",
    "--min-available=1",
    "-e",
    "A=1",
    "--for",
    "pod/web",
    "-lapp=x",
    "-nprod",
    "-wA",
    "--",
    "=",
    "-",
    "--bogus",
    "-Z",
]
MANIFESTS = [
    None,
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 0}\n",
    "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n",
    "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: d, namespace: db}\n---\n",
    "not: [valid",
    "",
]

WORDS = st.sampled_from(SUBCOMMANDS + TYPES + NAMES + FLAGS)


def _well_formed(request: KubeRequest) -> None:
    assert request.verb in KUBE_VERBS
    assert request.resource
    assert request.group is None and request.version is None and not request.resolved
    assert not (request.all_namespaces and request.name is not None)
    assert request.patch_type in {None, "strategic", "merge", "json", "apply"}
    assert (request.verb == "patch") == (request.patch_type is not None)


def _check(command: str, manifest: str | None) -> None:
    try:
        requests = parse_kubectl(command, manifest)
    except ParseError as error:
        assert error.rule in PARSE_RULES, error.rule
        assert error.reason and "\n" not in error.reason
        return
    assert requests, command
    for request in requests:
        _well_formed(request)


def _paths(group: Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for word, node in group.children.items():
        path = (*prefix, word)
        found.extend(_paths(node, path) if isinstance(node, Group) else [path])
    return found


PATHS = _paths(ROOT)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.one_of(st.sampled_from(PATHS), st.tuples(st.sampled_from(SUBCOMMANDS))),
    rest=st.lists(WORDS, max_size=9),
    manifest=st.sampled_from(MANIFESTS),
)
def test_random_commands_are_refused_or_give_requests(
    path: tuple[str, ...], rest: list[str], manifest: str | None
) -> None:
    _check(shlex.join([*path, *rest]), manifest)


@settings(max_examples=500, deadline=None)
@given(command=st.text(max_size=80), manifest=st.sampled_from(MANIFESTS))
def test_arbitrary_text_never_crashes_the_parser(command: str, manifest: str | None) -> None:
    _check(command, manifest)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(WORDS, min_size=1, max_size=6))
def test_unquoted_joins_never_crash_the_parser(words: list[str]) -> None:
    _check(" ".join(words), None)


@pytest.mark.parametrize(
    "command",
    [
        "exec -it web -- sh",
        "cp web:/etc/passwd .",
        "attach web",
        "port-forward svc/web 80",
        "proxy",
        "run x --image=y",
        "debug node/n1 -it --image=busybox",
        "edit deploy/web",
        "config view",
        "config use-context prod",
        "plugin list",
        "auth can-i '*' '*'",
        "certificate approve csr-1",
        "kustomize .",
        "wait --for=delete pod/x",
        "completion bash",
        "alpha events",
        "expose deploy web --port=80",
        "autoscale deploy web --max=3",
        "diff -f -",
        "cluster-info dump",
    ],
)
def test_dangerous_sub_commands_are_forbidden(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/forbidden-subcommand"


@pytest.mark.parametrize(
    "command",
    [
        "frobnicate",
        "GET pods",
        "gets pods",
        "kubectl-foo",
        "help",
        "options",
        "kubectl kubectl get pods",
        "top pvc",
        "rollout restarts deploy/x",
        "set serviceaccount deploy/x sa",
    ],
)
def test_unrecognised_sub_commands_are_unknown(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/unknown-subcommand"


@pytest.mark.parametrize("command", ["", "   ", "kubectl", "-n prod", "--", "-- get pods"])
def test_an_empty_command_is_a_syntax_error(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/syntax"


@pytest.mark.parametrize(
    ("command", "manifest"), [(None, None), (["get", "pods"], None), ("apply -f -", {"a": 1})]
)
def test_inputs_of_the_wrong_type_are_invalid_input(command: object, manifest: object) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command, manifest)  # type: ignore[arg-type]
    assert caught.value.rule == "parse/invalid-input"


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_every_sub_command_in_the_tree_refuses_unknown_flags_and_files(
    path: tuple[str, ...],
) -> None:
    words = " ".join(path)
    with pytest.raises(ParseError) as caught:
        parse_kubectl(f"{words} x --no-such-flag")
    assert caught.value.rule == "parse/unknown-flag"
    with pytest.raises(ParseError) as caught:
        parse_kubectl(f"{words} x --kubeconfig=admin.conf")
    assert caught.value.rule == "parse/identity-flag"
