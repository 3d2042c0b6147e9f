"""A small fleet on the real API server for the run-execution tests (fixtures, no tests).

An agent ``keeper`` (automate-safe, tier ``fast``, skill ``ops`` from its reconciler
ConfigMap) with its environment, its generated identity (RBAC), a Deployment ``web`` and a
Pod to look at, and the API key in a Secret. ``Fleet.serve`` starts the scripted model with
that key required and points a ModelTierConfig's ``fast`` tier at it.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube.client import KubeClient
from infraagent.adapters.kube.executor import KubeToolExecutor
from infraagent.errors import KubeError
from infraagent.identity import agent_rbac, service_account_name
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.keys import skill_configmap_name
from infraagent.models.skill import ActionSheet
from infraagent.operator.execute import ExecuteDeps
from infraagent.operator.run_inputs import RunInputs
from infraagent.ports import ModelProvider, ToolExecutor
from infraagent.providers import RetryPolicy, config_for_tier, make_provider
from infraagent.providers.scripted import ScriptedServer, parse_script

from .conftest import ControlPlane

AGENT = "keeper"
KEY = "sk-ant-test-9f8e7d6c5b4a39281706"
MODEL = "scripted-fast"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
SKILL_MD = """---
name: ops
description: Keep the shop running
---
Check the pods of the shop; restart a deployment that is stuck.
"""


@dataclass
class StepClock:
    """A clock that moves 10 ms each time it is read."""

    value: datetime = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.value += timedelta(milliseconds=10)
        return self.value


def sheet_yaml(namespace: str) -> str:
    sheet = {
        "actions": [
            {
                "id": "restart",
                "description": "Restart a deployment",
                "tier": "service-mutation",
                "kube": {
                    "verbs": ["patch"],
                    "resources": ["deployments.apps"],
                    "namespaces": [namespace],
                },
            }
        ]
    }
    return yaml.safe_dump(sheet)


def agent_manifest(namespace: str, autonomy: str = "automate-safe") -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "InfraAgent",
        "metadata": {"name": AGENT, "namespace": namespace},
        "spec": {
            "description": "Keeps the shop running",
            "schedule": {"interval": "5m"},
            "model": {"tier": "fast", "timeout": "300s"},
            "skills": [{"name": "ops"}],
            "guardrails": {"autonomy": autonomy, "maxIterations": 8},
            "environmentRef": "lab",
        },
    }


def kubectl(command: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "kubectl", "input": {"command": command}}]}


REPORT = {
    "text": 'Report: restarted web.\n```json\n{"findings": [{"severity": "warning", '
    '"message": "web was stuck"}]}\n```'
}


@dataclass
class Fleet:
    admin: KubeClient
    namespace: str
    clock: StepClock

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{service_account_name(AGENT)}"

    @contextlib.contextmanager
    def serve(self, turns: list[dict[str, Any]]) -> Iterator[ScriptedServer]:
        """The scripted model (key required) behind the ``fast`` tier of a ModelTierConfig."""
        with ScriptedServer(parse_script(yaml.safe_dump({"turns": turns})), api_key=KEY) as server:
            name = f"tiers-{self.namespace}"
            self.admin.apply(self.tier_config(name, server.url))
            try:
                yield server
            finally:
                with contextlib.suppress(KubeError):
                    self.admin.delete(GROUP_VERSION, "ModelTierConfig", name)

    def tier_config(self, name: str, url: str) -> dict[str, Any]:
        auth = {"type": "apiKey", "secretRef": "llm-key", "secretNamespace": self.namespace}
        return {
            "apiVersion": GROUP_VERSION,
            "kind": "ModelTierConfig",
            "metadata": {"name": name},
            "spec": {
                "defaultAuth": auth,
                "tiers": [
                    {
                        "tier": "fast",
                        "provider": "anthropic",
                        "model": MODEL,
                        "endpoint": url,
                        "maxTokens": 1024,
                        "costPerMillionInput": "3",
                        "costPerMillionOutput": "15",
                    }
                ],
            },
        }

    def deps(self) -> ExecuteDeps:
        """What the operator's composition root wires: impersonation and real providers."""

        def model_for(inputs: RunInputs) -> ModelProvider:
            config = config_for_tier(
                inputs.tier, inputs.default_auth, inputs.secret, timeout_seconds=10
            )
            policy = RetryPolicy(initial_backoff=0.01)
            return make_provider(config, policy=policy, sleep=lambda _: None)

        def executor_for(agent: InfraAgent) -> ToolExecutor:
            return KubeToolExecutor(self.admin, self.username, clock=self.clock)

        return ExecuteDeps(self.admin, self.clock, model_for, executor_for)

    def agentrun(self, name: str) -> dict[str, Any]:
        return self.admin.get(GROUP_VERSION, "AgentRun", name, self.namespace)

    def annotations(self) -> Mapping[str, str]:
        deployment = self.admin.get("apps/v1", "Deployment", "web", self.namespace)
        return deployment["spec"]["template"]["metadata"].get("annotations") or {}


def _objects(namespace: str) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    secret = {"api-key": base64.b64encode(KEY.encode()).decode()}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": skill_configmap_name("ops"), "namespace": namespace},
            "data": {"SKILL.md": SKILL_MD, "actions.yaml": sheet_yaml(namespace)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "llm-key", "namespace": namespace},
            "data": secret,
        },
        {
            "apiVersion": GROUP_VERSION,
            "kind": "AgentEnvironment",
            "metadata": {"name": "lab", "namespace": namespace},
            "spec": {"connection": {"kind": "in-cluster"}},
        },
        agent_manifest(namespace),
        {
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
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    ]


@pytest.fixture
def fleet(control_plane: ControlPlane, crds: list[str], namespace: str) -> Iterator[Fleet]:
    admin = KubeClient.from_kubeconfig(control_plane.kubeconfig)
    agent = InfraAgent.model_validate(agent_manifest(namespace))
    sheets = {"ops": ActionSheet.model_validate(yaml.safe_load(sheet_yaml(namespace)))}
    identity = agent_rbac(agent, sheets)
    try:
        for obj in [*_objects(namespace), *identity]:
            admin.apply(obj)
        yield Fleet(admin, namespace, StepClock())
    finally:
        for manifest in identity:
            if "namespace" not in manifest["metadata"]:
                with contextlib.suppress(KubeError):
                    admin.delete(
                        manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"]
                    )
        admin.close()
