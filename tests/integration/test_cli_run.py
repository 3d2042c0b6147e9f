"""``infraagent run``: one example agent, once, through the real SDK and the scripted
server, printed step by step, recorded as an AgentRun that the model accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infraagent.cli.main import main
from infraagent.models.agentrun import AgentRun, Outcome, RunPhase

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
turns:
  - text: "Probing."
    tool_calls:
      - {name: http_request, input: {method: GET, url: "https://grafana.dev-lab.example.com/api/health"}}
  - text: "Backstage is stuck."
    tool_calls:
      - {name: kubectl, input: {command: "rollout restart deployment/backstage -n backstage"}}
      - {name: kubectl, input: {command: "delete pvc harbor-registry -n harbor"}}
  - text: |
      Report: restarted backstage.
      ```json
      {"findings": [{"severity": "warning", "message": "backstage was stuck"}]}
      ```
"""


def _args(tmp_path: Path, *extra: str) -> list[str]:
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT)
    return [
        "run", str(REPO / "agents" / "watchman-light.yaml"),
        "--environment", str(REPO / "environments" / "dev-lab.yaml"),
        "--skills", str(REPO / "skills"),
        "--model-tiers", str(REPO / "environments" / "model-tiers.yaml"),
        "--llm", f"scripted:{script}", *extra,
    ]  # fmt: skip


def test_run_shows_each_step_and_writes_the_agentrun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run.yaml"
    assert main(_args(tmp_path, "--output", str(output))) == 0
    shown = capsys.readouterr().out
    assert "allow   read" in shown and "deny    data-mutation" in shown
    assert "data-protection/pvc-delete" in shown and "Report: restarted backstage." in shown
    run = AgentRun.model_validate(yaml.safe_load(output.read_text()))
    assert run.spec.agentRef == "watchman-light" and run.spec.trigger.value == "manual"
    assert run.status is not None and run.status.phase is RunPhase.ESCALATED
    outcomes = [e.outcome for e in run.status.ledger]
    # the offline executor runs nothing: allowed calls are recorded as failed, with the reason
    assert outcomes == [Outcome.FAILED, Outcome.FAILED, Outcome.DENIED]
    assert "not executed" in run.status.ledger[0].result
    assert run.status.findings[0].message == "backstage was stuck"
    assert run.status.usage is not None and run.status.usage.estimatedCost != "0"


def test_run_without_a_key_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    args = _args(tmp_path)
    args[args.index("--llm") + 1] = "tier"
    assert main(args) == 2
    assert "no API key for anthropic" in capsys.readouterr().err
