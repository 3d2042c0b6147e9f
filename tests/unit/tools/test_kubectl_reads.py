"""Read sub-commands become exactly the get / list / watch requests kubectl would make."""

from __future__ import annotations

import pytest

from infraagent.models.requests import KubeRequest as R
from infraagent.models.requests import ParseError
from infraagent.tools.kubectl import parse_kubectl

OPENAPI = "openapi/v3"
DISCOVERY = "api-discovery"
METRICS_PODS = "pods.metrics.k8s.io"
METRICS_NODES = "nodes.metrics.k8s.io"

CASES: list[tuple[str, list[R]]] = [
    # get
    ("get pods", [R("list", "pods")]),
    ("kubectl get pods", [R("list", "pods")]),
    ("get pvc data-0 -n db", [R("get", "pvc", name="data-0", namespace="db")]),
    ("get Deployment web", [R("get", "Deployment", name="web")]),
    ("get deployments.v1.apps web", [R("get", "deployments.v1.apps", name="web")]),
    ("get deploy.apps/web", [R("get", "deploy.apps", name="web")]),
    ("get pods web api", [R("get", "pods", name="web"), R("get", "pods", name="api")]),
    ("get pods/web svc/api", [R("get", "pods", name="web"), R("get", "svc", name="api")]),
    ("get pods,svc", [R("list", "pods"), R("list", "svc")]),
    ("get pods,pods", [R("list", "pods")]),
    (
        "get pods,svc web",
        [R("get", "pods", name="web"), R("get", "svc", name="web")],
    ),
    ("get all -A", [R("list", "all", all_namespaces=True)]),
    (
        "get pods -l app=web --field-selector status.phase=Running -n x",
        [
            R(
                "list",
                "pods",
                namespace="x",
                label_selector="app=web",
                field_selector="status.phase=Running",
            )
        ],
    ),
    ("get pods -w", [R("watch", "pods")]),
    ("get pod web --watch-only", [R("watch", "pod", name="web")]),
    (
        "get secrets -o jsonpath='{.items[*].data}' --show-labels --no-headers -L app "
        "--sort-by=.metadata.name --chunk-size=50 --ignore-not-found --show-kind",
        [R("list", "secrets")],
    ),
    ("get pods -o custom-columns=NAME:.metadata.name", [R("list", "pods")]),
    ("get pods -o go-template='{{.metadata.name}}'", [R("list", "pods")]),
    ("get deploy web --subresource=scale", [R("get", "deploy", name="web", subresource="scale")]),
    # describe
    ("describe pods", [R("list", "pods")]),
    ("describe pod web --show-events=false", [R("get", "pod", name="web")]),
    ("describe nodes -l role=worker", [R("list", "nodes", label_selector="role=worker")]),
    ("describe pvc -A", [R("list", "pvc", all_namespaces=True)]),
    # logs
    ("logs web", [R("get", "pods", name="web", subresource="log")]),
    (
        "logs web app -n x --tail=100 --since=1h --timestamps -p",
        [R("get", "pods", name="web", subresource="log", namespace="x")],
    ),
    ("logs pod/web -c app -f", [R("get", "pods", name="web", subresource="log")]),
    ("logs Pods/web --all-containers --prefix", [R("get", "pods", name="web", subresource="log")]),
    (
        "logs deploy/web -n x --limit-bytes=1000 --max-log-requests=5",
        [
            R("get", "deploy", name="web", namespace="x"),
            R("get", "pods", subresource="log", namespace="x"),
        ],
    ),
    (
        "logs -l app=web --since-time=2024-01-01T00:00:00Z",
        [
            R("list", "pods", label_selector="app=web"),
            R("get", "pods", subresource="log", label_selector="app=web"),
        ],
    ),
    # top
    ("top pods", [R("list", METRICS_PODS)]),
    ("top pod web --containers -n x", [R("get", METRICS_PODS, name="web", namespace="x")]),
    (
        "top po -A -l app=x --sort-by=cpu",
        [R("list", METRICS_PODS, all_namespaces=True, label_selector="app=x")],
    ),
    ("top nodes --no-headers --use-protocol-buffers", [R("list", METRICS_NODES)]),
    ("top node n1", [R("get", METRICS_NODES, name="n1")]),
    # events
    ("events", [R("list", "events")]),
    ("events -A -o yaml --types=Warning", [R("list", "events", all_namespaces=True)]),
    (
        "events --for pod/web -w -n x",
        [
            R(
                "watch",
                "events",
                namespace="x",
                field_selector="involvedObject.name=web",
                options=frozenset({"for=pod/web"}),
            )
        ],
    ),
    # explain and discovery
    ("explain pods", [R("get", OPENAPI)]),
    ("explain pods -n prod", [R("get", OPENAPI)]),
    ("api-resources -n prod", [R("get", DISCOVERY)]),
    ("explain deployments.spec.template --recursive", [R("get", OPENAPI)]),
    ("api-resources", [R("get", DISCOVERY)]),
    ("api-resources --namespaced=true --api-group=apps -o wide", [R("get", DISCOVERY)]),
    ("api-versions", [R("get", DISCOVERY)]),
    ("version --client", [R("get", DISCOVERY)]),
    # rollout status / history
    ("rollout status deploy/web -w --timeout=60s", [R("get", "deploy", name="web")]),
    ("rollout status deployment web -n x", [R("get", "deployment", name="web", namespace="x")]),
    ("rollout history deploy/web --revision=2", [R("get", "deploy", name="web")]),
    ("rollout history deploy -l app=x", [R("list", "deploy", label_selector="app=x")]),
]


@pytest.mark.parametrize(("command", "expected"), CASES)
def test_reads(command: str, expected: list[R]) -> None:
    assert parse_kubectl(command) == expected


@pytest.mark.parametrize(
    "command",
    [
        "get",
        "get pods/web api",
        "get pods/",
        "get /web",
        "get pods/a/b",
        "get pods,/web",
        "get pods, web",
        "get pods ..",
        "get pods a%2fb",
        "get pods web -l app=x",
        "get pod web -A",
        "get deploy web --subresource=log",
        "get pods --chunk-size=many",
        "describe",
        "logs",
        "logs web app extra",
        "logs web -l app=x",
        "logs pods/",
        "top pod a b",
        "top pod a -A",
        "top",
        "events foo",
        "events --for web",
        "explain",
        "explain pods deployments",
        "api-resources pods",
        "api-versions x",
        "rollout status",
    ],
)
def test_malformed_reads_are_syntax_errors(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/syntax", caught.value.reason


@pytest.mark.parametrize(
    "command",
    [
        "get pods -f pods.yaml",
        "describe -f -",
        "get -k ./dir",
        "get pods -R",
        "get pods -o go-template-file=/var/run/secrets/kubernetes.io/serviceaccount/token",
        "get pods -o templatefile --template=/etc/passwd",
        "get pods -o jsonpath-file=paths.txt",
        "get pods -o=custom-columns-file=cols.txt",
        "events -o go-template-file=t.tmpl",
    ],
)
def test_reads_never_read_files(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/file-input"


@pytest.mark.parametrize(
    "command",
    [
        "get pods --template=/var/run/secrets/kubernetes.io/serviceaccount/token",
        "get pods -o yaml --template='{{.metadata.name}}'",
        "get pods -o yml",
        "get pods -o",
    ],
)
def test_ambiguous_templates_and_unknown_output_formats_are_refused(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/syntax"


def test_inline_templates_are_fine() -> None:
    for output in (
        "-o go-template --template='{{.metadata.name}}'",
        "-o go-template='{{range .items}}{{.metadata.name}}{{end}}'",
        "-o jsonpath='{.items[*].metadata.name}'",
        "-o jsonpath-as-json='{.items}'",
        "-o custom-columns=NAME:.metadata.name",
        "-o wide",
        "-o name",
        "--output=json",
    ):
        assert parse_kubectl(f"get pods {output}") == [R("list", "pods")]


@pytest.mark.parametrize(
    "command",
    [
        "logs web --insecure-skip-tls-verify-backend",
        "top node -A",
        "get pods --dry-run=server",
        "describe pods -o yaml",
        "api-versions -o json",
    ],
)
def test_flags_reads_do_not_have_are_refused(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command)
    assert caught.value.rule == "parse/unknown-flag"
