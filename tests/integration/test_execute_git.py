"""``git://`` skills: fetched from a real Git repository at their ref by the composition
root's fetcher, then run like any other skill; a folder without a skill fails the run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from infraagent.cli.run_cluster import GitSkillFetcher
from infraagent.models.agentrun import AgentRun
from infraagent.models.keys import skill_configmap_name
from infraagent.operator.execute import execute_run
from infraagent.ports import RunRequest
from tests.integration.gitserver import commit_files, make_bare_repo

from .test_execute_support import (
    AGENT,
    REPORT,
    RESTARTED_AT,
    SKILL_MD,
    Fleet,
    agent_manifest,
    fleet,
    kubectl,
    sheet_yaml,
)

__all__ = ["fleet"]  # the fixture
SOURCE = "git://git.example.com/platform/skills#skills/ops@stable"


def _use_git_skill(fleet: Fleet, tmp_path: Path) -> tuple[Path, GitSkillFetcher]:
    ns = fleet.namespace
    fleet.admin.delete("v1", "ConfigMap", skill_configmap_name("ops"), ns)
    files = {"skills/ops/SKILL.md": SKILL_MD, "skills/ops/actions.yaml": sheet_yaml(ns)}
    bare = make_bare_repo(tmp_path, "skills.git", files, branch="stable")
    agent = agent_manifest(ns)
    skills = [{"name": "ops", "source": SOURCE}]
    fleet.admin.apply({**agent, "spec": {**agent["spec"], "skills": skills}})
    # the test's repository stands in for https://git.example.com/platform/skills
    return bare, GitSkillFetcher(tmp_path / "cache", lambda source: bare.as_uri())


def test_a_git_skill_is_fetched_at_its_ref_and_used(fleet: Fleet, tmp_path: Path) -> None:
    _, fetcher = _use_git_skill(fleet, tmp_path)
    request = RunRequest(fleet.namespace, AGENT, "manual", fleet.clock.value)
    turns = [kubectl(f"rollout restart deployment/web -n {fleet.namespace}"), REPORT]
    with fleet.serve(turns):
        outcome = execute_run(request, replace(fleet.deps(), fetch_git=fetcher))
    assert outcome.phase == "Succeeded"
    assert RESTARTED_AT in fleet.annotations()  # the action came from the fetched sheet


def test_a_git_folder_without_a_skill_fails_the_run(fleet: Fleet, tmp_path: Path) -> None:
    bare, fetcher = _use_git_skill(fleet, tmp_path)
    commit_files(bare, {}, branch="stable", delete=("skills/ops/SKILL.md",))
    request = RunRequest(fleet.namespace, AGENT, "manual", fleet.clock.value)
    with fleet.serve([REPORT]) as server:
        outcome = execute_run(request, replace(fleet.deps(), fetch_git=fetcher))
    assert outcome.phase == "Failed" and server.requests == ()
    assert outcome.run_name is not None
    status = AgentRun.model_validate(fleet.agentrun(outcome.run_name)).status
    assert status is not None and status.reason == "SkillNotFound"
    message = status.conditions[0].message or ""
    assert SOURCE in message and "skills/ops holds no SKILL.md" in message


def test_without_a_fetcher_git_skills_are_refused_by_name(fleet: Fleet, tmp_path: Path) -> None:
    _use_git_skill(fleet, tmp_path)
    request = RunRequest(fleet.namespace, AGENT, "manual", fleet.clock.value)
    with fleet.serve([REPORT]):
        outcome = execute_run(request, fleet.deps())
    assert outcome.run_name is not None
    status = AgentRun.model_validate(fleet.agentrun(outcome.run_name)).status
    assert status is not None and status.reason == "SkillNotFound"
    assert "git sources are not enabled" in (status.conditions[0].message or "")
