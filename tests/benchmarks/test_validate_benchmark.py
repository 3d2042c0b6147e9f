"""How fast ``infraagent validate`` is on a large fleet: 1,000 definition files.

Prints the figure (files, seconds, files per second); it is not a pass/fail timer. It only
asserts that the generated fleet validated without a single problem.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from infraagent.loading import Source, validate

AGENTS = 900
ENVIRONMENTS = 100
SKILLS = 10

ENVIRONMENT = """\
apiVersion: core.infraagent.io/v1alpha1
kind: AgentEnvironment
metadata:
  name: env-{n}
  namespace: team-{n}
spec:
  connection:
    kind: in-cluster
  endpoints:
    web:
      url: https://web-{n}.example.com
      healthPath: /healthz
    grafana:
      url: https://grafana-{n}.example.com
      healthPath: /api/health
      credential: grafana
  namespaces:
    apps: [shop, payments]
    system: [kube-system]
  credentials:
    grafana:
      secretRef: grafana-token
      type: bearer-token
  channels:
    oncall:
      type: webhook
      target: https://hooks.example.com/{n}
  dataResources:
    backupMaxAge: 24h
    databases:
      - kind: clusters.postgresql.cnpg.io
        namespace: shop
        name: shop-db
"""

AGENT = """\
apiVersion: core.infraagent.io/v1alpha1
kind: InfraAgent
metadata:
  name: agent-{n}
  namespace: team-{env}
  labels:
    team: platform
spec:
  description: Probes the shop's endpoints and restarts stuck deployments.
  schedule:
    cron: "*/{minutes} * * * *"
    timezone: Europe/Berlin
  model:
    tier: fast
    tokenBudget: 8000
    timeout: 60s
  skills:
    - name: skill-{skill}
    - name: skill-{other}
  guardrails:
    autonomy: automate-safe
    allowedActions: ["skill-{skill}/*", "skill-{other}/probe"]
    deniedActions: ["*/delete-*"]
    escalation:
      target: channel
      channelName: oncall
    maxIterations: 5
  reporting:
    onSuccess: silent
    onFailure: escalate
  environmentRef: env-{env}
"""

SKILL = """\
---
name: skill-{n}
description: Endpoint checks, variant {n}
version: "1.0.0"
---
# Skill {n}

Probe every endpoint; restart a deployment that stays unavailable.
"""

ACTIONS = """\
actions:
  - id: probe
    description: Read a health path
    tier: read
    http: {{methods: [GET], urls: ["https://*"]}}
  - id: restart
    description: Restart a deployment
    tier: service-mutation
    kube: {{verbs: [patch], resources: [deployments.apps], namespaces: [shop]}}
    cooldown: 5m
  - id: delete-pod
    description: Delete a stuck pod
    tier: service-mutation
    kube: {{verbs: [delete], resources: [pods], namespaces: [shop]}}
"""

TIERS = """\
apiVersion: core.infraagent.io/v1alpha1
kind: ModelTierConfig
metadata:
  name: default
spec:
  defaultAuth: {type: apiKey, secretRef: llm-api-key}
  tiers:
    - {tier: fast, provider: anthropic, model: claude-haiku}
"""


def _write_fleet(root: Path) -> int:
    (root / "agents").mkdir()
    (root / "environments").mkdir()
    for n in range(ENVIRONMENTS):
        (root / "environments" / f"env-{n}.yaml").write_text(ENVIRONMENT.format(n=n))
    (root / "environments" / "tiers.yaml").write_text(TIERS)
    for n in range(AGENTS - 1):
        text = AGENT.format(
            n=n, env=n % ENVIRONMENTS, minutes=5 + n % 50, skill=n % SKILLS, other=(n + 1) % SKILLS
        )
        (root / "agents" / f"agent-{n}.yaml").write_text(text)
    for n in range(SKILLS):
        folder = root / "skills" / f"skill-{n}"
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(SKILL.format(n=n))
        (folder / "actions.yaml").write_text(ACTIONS.format())
    return AGENTS + ENVIRONMENTS


@pytest.mark.benchmark
def test_validate_1000_definition_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    definitions = _write_fleet(tmp_path)
    start = time.perf_counter()
    fleet, diagnostics = validate([Source(tmp_path, "")])
    seconds = time.perf_counter() - start
    with capsys.disabled():  # the figure is the point: show it even when output is captured
        print(
            f"\nvalidate: {definitions} definition files ({fleet.files} files with skills) "
            f"in {seconds:.2f} s, {fleet.files / seconds:.0f} files/s"
        )
    assert diagnostics == []
    assert len(fleet.definitions) == definitions
