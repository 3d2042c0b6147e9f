"""``infraagent guardrails check`` keeps its contract: usage errors exit 2, output is one
JSON object per input line, and credentials bind to exact origins only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infraagent.cli.main import main
from infraagent.guardrails.policy import build_policy
from infraagent.loading.bundle import load_bundle
from infraagent.tools.http import parse_http

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "agents" / "tribune.yaml"
DEV_LAB = REPO / "environments" / "dev-lab.yaml"
SKILLS = REPO / "skills"


def test_missing_agent_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["guardrails", "check"])
    assert stopped.value.code == 2
    assert "--agent" in capsys.readouterr().err


def test_invalid_agent_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_text("apiVersion: core.infraagent.io/v1alpha1\nkind: InfraAgent\nmetadata: {}\n")
    assert main(["guardrails", "check", "--agent", str(bad), "--input", str(bad)]) == 2
    assert "agent.yaml" in capsys.readouterr().err


def test_unreadable_input_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["guardrails", "check", "--agent", str(AGENT), "--input", str(missing)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_one_json_object_per_line_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"tool": "kubectl", "input": {"command": "delete pvc data-0 -n db"}},
        {
            "tool": "http_request",
            "input": {"method": "GET", "url": "https://api.github.com/issues"},
        },
        {"tool": "kubectl", "input": {"command": "get pods -A"}},
    ]
    calls = tmp_path / "calls.jsonl"
    calls.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    args = ["--agent", str(AGENT), "--environment", str(DEV_LAB), "--skills", str(SKILLS)]
    assert main(["guardrails", "check", *args, "--input", str(calls)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["decision"] for o in out] == ["deny", "allow", "allow", "deny"]
    assert out[0]["tier"] == "data-mutation" and out[0]["rule"] == "data-protection/pvc-delete"
    assert out[1]["action"] == "issue-triage/list-issues"
    assert out[3]["rule"] == "invalid-input" and out[3]["tier"] is None
    assert set(out[0]) == {"decision", "tier", "rule", "reason", "action"}


@pytest.mark.parametrize(
    ("url", "credential"),
    [
        ("https://api.github.com/repos/acme/x/issues", "github"),
        ("https://API.GITHUB.COM./repos/acme/x/issues", "github"),
        ("https://api.github.com:443/user", "github"),
        ("http://api.github.com/repos/acme/x/issues", None),
        ("https://api.github.com:8443/repos/acme/x/issues", None),
        ("https://api.github.com.attacker.example/repos", None),
        ("https://evil.example/https://api.github.com/", None),
    ],
)
def test_credentials_bind_to_the_exact_origin(url: str, credential: str | None) -> None:
    bundle = load_bundle(AGENT, DEV_LAB, SKILLS)
    assert bundle.agent is not None
    policy = build_policy(bundle.agent, bundle.environment, bundle.sheets)
    request = parse_http({"method": "GET", "url": url})
    assert policy.credential_for(request) == credential
