"""The README's promises about how to run things hold: CI runs its test command verbatim,
and the GitHub Action's script drives the real command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)][:2]


def test_readme_opens_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first_block = text.index("```bash")
    assert text[:first_block].count("\n") < 6, "the commands must open the README"
    setup, tests = _readme_commands()
    assert "infraagent" in setup
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci_lines


def _action_script() -> str:
    action = yaml.safe_load((REPO / ".github/actions/validate/action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("name") == "Validate the fleet")
    script: str = step["run"]
    return script


def _run_action(paths: str, strict: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    env = {**os.environ, "FLEET_PATHS": paths, "STRICT": strict}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [bash, "-c", _action_script()],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_github_action_passes_on_this_fleet() -> None:
    result = _run_action(".", "false", REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::error" not in result.stdout


def test_github_action_annotates_a_broken_fleet(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "bad.yaml").write_text(
        "apiVersion: core.infraagent.io/v1alpha1\nkind: InfraAgent\nmetadata: {name: bad}\n"
        "spec:\n  description: x\n  schedule: {cron: '99 * * * *'}\n  model: {tier: fast}\n"
        "  skills: [{name: nope}]\n  guardrails: {autonomy: observe}\n  environmentRef: e\n"
    )
    result = _run_action("agents", "false", tmp_path)
    assert result.returncode == 1
    assert "::error file=agents/bad.yaml,line=6," in result.stdout
