"""Each example agent of this repository gets the decisions its skill's authors intend.

The agents, the dev-lab and production environments and the skills are loaded from the
repository's own fleet, exactly as ``infraagent guardrails check`` loads them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infraagent.guardrails.policy import Policy, build_policy
from infraagent.guardrails.verdict import CooldownState
from infraagent.loading.bundle import load_bundle
from infraagent.tools.judge import judge

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
AGENT_FILES = {p.stem: p for p in (REPO / "agents").glob("*.yaml")}


def policy_for(file_stem: str) -> Policy:
    agent_file = AGENT_FILES[file_stem]
    agent_env = "production" if file_stem == "multi-cluster-watchman" else "dev-lab"
    bundle = load_bundle(agent_file, REPO / "environments" / f"{agent_env}.yaml", REPO / "skills")
    assert bundle.ok, bundle.diagnostics
    assert bundle.agent is not None
    return build_policy(bundle.agent, bundle.environment, bundle.sheets)


def k(command: str) -> tuple[str, dict[str, Any]]:
    return "kubectl", {"command": command}


def get(url: str) -> tuple[str, dict[str, Any]]:
    return "http_request", {"method": "GET", "url": url}


def post(url: str, body: str = "{}") -> tuple[str, dict[str, Any]]:
    return "http_request", {"method": "POST", "url": url, "body": body}


ALLOW, PROPOSE, DENY = "allow", "propose", "deny"
GRAFANA = "https://grafana.dev-lab.example.com"
PLATFORM = "https://platform.dev-lab.example.com"
ARGOCD = "https://argocd.dev-lab.example.com"
GITHUB = "https://api.github.com"

# agent file → [(call, decision, rule prefix, action or None)]
INTENT: dict[str, list[tuple[tuple[str, dict[str, Any]], str, str, str | None]]] = {
    "watchman-light": [
        (get(f"{GRAFANA}/api/health"), ALLOW, "allow/action", "endpoint-monitoring/probe-endpoints"),
        (k("rollout restart deployment/backstage -n backstage"), ALLOW, "allow/action",
         "endpoint-monitoring/restart-deployment"),
        (k("delete pod backstage-7d9f-abc -n backstage"), PROPOSE, "autonomy/automate-safe",
         "endpoint-monitoring/delete-stuck-pod"),
        (k("rollout restart deployment/coredns -n kube-system"), DENY, "sheet/undeclared", None),
        (k("delete pvc harbor-registry -n harbor"), DENY, "data-protection/", None),
        (k("get pods -A"), ALLOW, "allow/read", None),
    ],
    "watchman-deep": [
        (("mcp__k8sgpt__analyze", {"filters": ["Pod"]}), ALLOW, "allow/action",
         "deep-infrastructure-audit/analyze-with-k8sgpt"),
        (get("http://prometheus.monitoring:9090/api/v1/query?query=up"), ALLOW, "allow/action",
         "deep-infrastructure-audit/query-prometheus"),
        (k("rollout restart deploy/ideavault -n ideavault"), ALLOW, "allow/action",
         "deep-infrastructure-audit/restart-deployment"),
        (k("scale deploy ideavault --replicas=0 -n ideavault"), DENY, "sheet/undeclared", None),
        (k("delete backups.postgresql.cnpg.io nightly -n backstage"), DENY, "data-protection/", None),
    ],
    "scout": [
        (get(f"{PLATFORM}/catalog"), ALLOW, "allow/action", "qa-exploration/browse-services"),
        (post(f"{PLATFORM}/catalog"), DENY, "sheet/undeclared", None),
        (k("rollout restart deployment/backstage -n backstage"), DENY, "sheet/undeclared", None),
    ],
    "tribune": [
        (get(f"{GITHUB}/repos/acme/platform/issues?state=open"), ALLOW, "allow/action",
         "issue-triage/list-issues"),
        (post(f"{GITHUB}/repos/acme/platform/issues/42/labels", '{"labels": ["bug"]}'), ALLOW,
         "allow/action", "issue-triage/add-labels"),
        (("http_request", {"method": "DELETE", "url": f"{GITHUB}/repos/acme/platform"}), DENY,
         "sheet/undeclared", None),
    ],
    "analyst": [
        (k("get agentruns -n agents"), ALLOW, "allow/read", None),
        (get("http://prometheus.monitoring:9090/api/v1/query?query=up"), ALLOW, "allow/action",
         "weekly-analysis/query-prometheus"),
        (k("annotate infraagent tribune -n agents reviewed=yes"), DENY, "self-protection/", None),
    ],
    "herald": [
        (get("http://alertmanager.monitoring:9093/api/v2/alerts?active=true"), ALLOW,
         "allow/action", "daily-digest/read-alerts"),
        (k("get secrets -n agents"), DENY, "sheet/secret-read", None),
    ],
    "forge": [
        (post(f"{ARGOCD}/api/v1/applications/backstage/sync"), ALLOW, "allow/action",
         "deployment-pipeline/sync-application"),
        (k("rollout restart deployment/backstage -n backstage"), ALLOW, "allow/action",
         "deployment-pipeline/restart-deployment"),
        (k("delete namespace backstage"), DENY, "data-protection/namespace-delete", None),
        (k("scale deployment backstage --replicas=0 -n backstage"), DENY, "sheet/undeclared",
         None),
    ],
    "promotion": [
        (post("https://kargo.dev-lab.example.com/api/v1/projects/platform/stages/prod/promote"),
         ALLOW, "allow/action", "promotion-cadence/promote-freight"),
        (k("delete deployment backstage -n backstage"), DENY, "sheet/undeclared", None),
    ],
    "config-backup": [
        (post(f"{PLATFORM}/api/v1/config/cluster/backup"), ALLOW, "allow/action",
         "config-backup/trigger-backup"),
        (k("get configmaps -A -o yaml"), ALLOW, "allow/read", None),
        (k("get secrets -A -o yaml"), DENY, "self-protection/operator-namespace", None),
        (k("get secrets -n agents"), DENY, "sheet/secret-read", None),
    ],
    "vigil": [
        (get(f"{GRAFANA}/login"), ALLOW, "allow/action", "e2e-regression/run-http-checks"),
        (post(f"{GRAFANA}/api/dashboards/db"), DENY, "sheet/undeclared", None),
    ],
    "hello-world": [
        (k("get nodes"), ALLOW, "allow/read", None),
        (k("cordon node-1"), DENY, "sheet/undeclared", None),
    ],
    "multi-cluster-watchman": [
        (get("https://app.production.example.com/healthz"), ALLOW, "allow/action",
         "endpoint-monitoring/probe-endpoints"),
        (k("rollout restart deployment/backstage -n backstage"), DENY, "agent/denied-action",
         None),
    ],
}  # fmt: skip


def test_every_example_agent_has_intended_decisions() -> None:
    assert set(INTENT) == set(AGENT_FILES)


@pytest.mark.parametrize("agent", sorted(INTENT))
def test_example_agent_decisions(agent: str) -> None:
    policy = policy_for(agent)
    for (tool, tool_input), decision, rule, action in INTENT[agent]:
        verdict = judge(tool, tool_input, policy, CooldownState(), NOW)
        described = f"{agent}: {tool} {tool_input} → {verdict.to_json()}"
        assert verdict.decision.value == decision, described
        assert verdict.rule.startswith(rule), described
        if action is not None:
            assert verdict.action == action, described
