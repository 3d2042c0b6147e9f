"""The tool executor on a real kube-apiserver: judged kubectl calls run as the agent.

An agent whose sheet permits ``patch deployments.apps`` (and ``/scale``) and, as a
destructive action (RBAC grants deletes only to those), ``delete pods`` in the test
namespace gets its generated RBAC applied; its calls are judged by the guardrails and the
allowed ones executed through impersonation. The server's RBAC is the second layer: calls
that bypass the judge still get a ``Forbidden`` tool result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube.client import KubeClient
from infraagent.adapters.kube.executor import UNAVAILABLE, KubeToolExecutor
from infraagent.errors import KubeError
from infraagent.guardrails.policy import build_policy
from infraagent.guardrails.verdict import CooldownState, Decision
from infraagent.identity import agent_rbac, service_account_name
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import Outcome
from infraagent.models.modeltier import Provider
from infraagent.models.requests import CanonicalRequest
from infraagent.models.skill import ActionSheet
from infraagent.ports import ToolOutput
from infraagent.providers import ProviderConfig, RetryPolicy, make_provider
from infraagent.providers.scripted import ScriptedServer, parse_script
from infraagent.redaction import Redactor
from infraagent.runtime.assemble import agent_input
from infraagent.runtime.loop import RunPorts, RunSettings, run_agent
from infraagent.tools.judge import judge, parse_call

from .conftest import ControlPlane

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
AGENT = "executor"


@dataclass
class Clock:
    value: datetime = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.value += timedelta(milliseconds=10)
        return self.value


def _sheet(namespace: str) -> ActionSheet:
    kube = {"namespaces": [namespace]}
    return ActionSheet.model_validate(
        {
            "actions": [
                {
                    "id": "restart",
                    "description": "Restart or scale a deployment",
                    "tier": "service-mutation",
                    "kube": {
                        "verbs": ["patch"],
                        "resources": ["deployments.apps", "deployments.apps/scale"],
                        **kube,
                    },
                },
                {
                    "id": "recycle-pod",
                    "description": "Delete a stuck pod",
                    "tier": "destructive-mutation",
                    "kube": {"verbs": ["delete"], "resources": ["pods"], **kube},
                },
            ]
        }
    )


def _agent(namespace: str) -> InfraAgent:
    return InfraAgent.model_validate(
        {
            "apiVersion": "core.infraagent.io/v1alpha1",
            "kind": "InfraAgent",
            "metadata": {"name": AGENT, "namespace": namespace},
            "spec": {
                "description": "Keeps the shop running",
                "schedule": {"interval": "5m"},
                "model": {"tier": "fast"},
                "skills": [{"name": "ops"}],
                "guardrails": {"autonomy": "automate-safe"},
                "environmentRef": "lab",
            },
        }
    )


def _deployment(namespace: str) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def _pod(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stuck", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }


def _pvc(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


@dataclass
class Shop:
    admin: KubeClient
    namespace: str
    sheets: dict[str, ActionSheet]
    executor: KubeToolExecutor

    def run(self, command: str) -> ToolOutput:
        """Judge ``command``; execute it only when allowed."""
        policy = build_policy(_agent(self.namespace), None, self.sheets)
        now = datetime.now(UTC)
        verdict = judge("kubectl", {"command": command}, policy, CooldownState(), now)
        assert verdict.decision is Decision.ALLOW, (command, verdict.rule, verdict.reason)
        return self.executor.execute("kubectl", {"command": command}, verdict.requests)

    def direct(self, command: str) -> ToolOutput:
        """Execute ``command`` bypassing the judge (only the server's RBAC stands)."""
        requests = tuple(parse_call("kubectl", {"command": command}))
        return self.executor.execute("kubectl", {"command": command}, requests)

    def deployment(self) -> dict[str, Any]:
        return self.admin.get("apps/v1", "Deployment", "web", self.namespace)


@pytest.fixture
def shop(control_plane: ControlPlane, namespace: str) -> Iterator[Shop]:
    admin = KubeClient.from_kubeconfig(control_plane.kubeconfig)
    sheets = {"ops": _sheet(namespace)}
    manifests = agent_rbac(_agent(namespace), sheets)
    user = f"system:serviceaccount:{namespace}:{service_account_name(AGENT)}"
    try:
        for manifest in manifests:
            admin.apply(manifest)
        admin.create(_deployment(namespace))
        yield Shop(admin, namespace, sheets, KubeToolExecutor(admin, user, clock=Clock()))
    finally:
        for manifest in manifests:
            if "namespace" not in manifest["metadata"]:
                with contextlib.suppress(KubeError):
                    admin.delete(
                        manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"]
                    )
        admin.close()


def test_allowed_calls_run_as_the_agent_and_render_like_kubectl(shop: Shop) -> None:
    ns = shop.namespace
    listing = shop.run(f"get deployments -n {ns}")
    assert not listing.is_error and "NAME" in listing.text and "web" in listing.text

    restarted = shop.run(f"rollout restart deployment/web -n {ns}")
    assert (restarted.text, restarted.is_error) == ("deployment.apps/web restarted", False)
    annotations = shop.deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_AT].startswith("2026-11-27T03:00")

    scaled = shop.run(f"scale deployment web --replicas=2 -n {ns}")
    assert (scaled.text, scaled.is_error) == ("deployment.apps/web scaled", False)
    assert shop.deployment()["spec"]["replicas"] == 2

    as_yaml = shop.run(f"get deployment web -n {ns} -o yaml")
    assert yaml.safe_load(as_yaml.text)["spec"]["replicas"] == 2

    resources = shop.run("api-resources")
    assert "deployments deploy apps/v1 True Deployment" in resources.text
    # no controllers run here, so the deployment has no pods to read logs from
    logs = shop.run(f"logs deploy/web -n {ns}")
    assert (logs.text, logs.is_error) == ("error: no pods match app=web", True)


def test_api_errors_come_back_as_tool_results(shop: Shop) -> None:
    ns = shop.namespace
    secrets = shop.direct(f"get secrets -n {ns}")
    assert secrets.is_error and secrets.text.startswith("Error from server (Forbidden)")

    missing = shop.run(f"get deployment nope -n {ns}")
    assert missing.is_error and missing.text.startswith("Error from server (NotFound)")
    assert '"nope" not found' in missing.text

    deleted = shop.direct(f"delete deployment web -n {ns}")
    assert deleted.is_error and "(Forbidden)" in deleted.text
    assert shop.deployment()["metadata"]["name"] == "web"

    # a call stops at its first error: the second request never runs
    requests = (
        *parse_call("kubectl", {"command": f"get secrets -n {ns}"}),
        *parse_call("kubectl", {"command": f"get deployments -n {ns}"}),
    )
    both = shop.executor.execute("kubectl", {"command": "get secrets"}, tuple(requests))
    assert both.is_error and "(Forbidden)" in both.text and "web" not in both.text

    http = shop.executor.execute("http_request", {"method": "GET", "url": "http://x"}, ())
    assert (http.text, http.is_error) == (UNAVAILABLE, True)


def test_a_dry_run_delete_leaves_the_pod(shop: Shop) -> None:
    ns = shop.namespace
    shop.admin.create(_pod(ns))
    result = shop.run(f"delete pod stuck -n {ns} --dry-run=server")
    assert (result.text, result.is_error) == ('pod "stuck" deleted (server dry run)', False)
    assert shop.admin.get("v1", "Pod", "stuck", ns)["metadata"]["name"] == "stuck"


@dataclass
class Recording:
    inner: KubeToolExecutor
    calls: list[tuple[CanonicalRequest, ...]] = field(default_factory=list)

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput:
        self.calls.append(requests)
        return self.inner.execute(tool, arguments, requests)


def _kubectl(command: str) -> dict[str, Any]:
    return {"name": "kubectl", "input": {"command": command}}


def test_the_agent_loop_restarts_and_cannot_delete_data(shop: Shop) -> None:
    ns = shop.namespace
    shop.admin.create(_pvc(ns))
    turns = [
        {"tool_calls": [_kubectl(f"rollout restart deploy/web -n {ns}")]},
        {"tool_calls": [_kubectl(f"delete pvc data -n {ns}")]},
        {"text": "Restarted web; the PVC delete was refused."},
    ]  # fmt: skip
    tools = Recording(shop.executor)
    inputs = agent_input(_agent(ns), None, shop.sheets, {})
    with ScriptedServer(parse_script(yaml.safe_dump({"turns": turns}))) as server:
        config = ProviderConfig(
            Provider.ANTHROPIC, "scripted-1", server.url, "sk-test", timeout_seconds=5
        )
        model = make_provider(
            config, policy=RetryPolicy(initial_backoff=0.01), sleep=lambda _: None
        )
        settings = RunSettings("scripted-1", 6, 200_000, timedelta(minutes=5), 512, 12_000)
        result = run_agent(inputs, settings, RunPorts(model, tools, Redactor(), Clock()))
    restart, delete = result.ledger[0], result.ledger[1]
    assert (restart.decision, restart.outcome) == (Decision.ALLOW, Outcome.EXECUTED)
    assert (delete.decision, delete.rule) == (Decision.DENY, "data-protection/pvc-delete")
    assert len(tools.calls) == 1
    assert RESTARTED_AT in shop.deployment()["spec"]["template"]["metadata"]["annotations"]
    pvc = shop.admin.get("v1", "PersistentVolumeClaim", "data", ns)
    assert "deletionTimestamp" not in pvc["metadata"]
