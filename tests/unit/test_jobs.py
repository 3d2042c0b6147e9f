"""The manifests of a run executed as a Job: the pod reads its key where the Job puts it, and
the per-run access names that run and nothing wider."""

from __future__ import annotations

import pytest

from infraagent.cli.main import main
from infraagent.models.modeltier import Provider
from infraagent.operator.run_job import (
    RUN_READER,
    JobSettings,
    key_env,
    key_secret,
    run_access,
    run_job,
)
from infraagent.settings import Settings


@pytest.mark.parametrize("provider", list(Provider))
def test_the_pod_reads_the_key_from_the_variable_the_job_sets(provider: Provider) -> None:
    settings = Settings.from_environ({key_env(provider): "sk-from-the-secret"})
    assert settings.llm_api_keys[provider.value] == "sk-from-the-secret"


def test_without_a_key_the_job_has_no_environment() -> None:
    job = run_job("keeper", "keeper-x1", "shop", JobSettings("img"), timeout_seconds=120,
                  key_variable=None)  # fmt: skip
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == []
    assert job["spec"]["activeDeadlineSeconds"] == 180


def test_settings_shape_the_job() -> None:
    settings = JobSettings(
        "img:2", requests={"cpu": "50m"}, limits={"memory": "1Gi"}, ttl_seconds_after_finished=60
    )
    job = run_job("keeper", "keeper-x1", "shop", settings, timeout_seconds=10,
                  key_variable="OPENAI_API_KEY")  # fmt: skip
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "50m"}, "limits": {"memory": "1Gi"}}
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    assert job["metadata"]["labels"]["infraagent.io/agent-run"] == "keeper-x1"


def test_the_run_access_names_one_run_and_its_own_objects() -> None:
    reader, role, binding, cluster_binding = run_access(
        "keeper", "lab", "keeper-x1", "shop", ["infraagent-skill-ops"]
    )
    assert reader["metadata"]["name"] == RUN_READER
    assert reader["rules"][0]["verbs"] == ["get", "list"]
    names = {(r["resources"][0], tuple(r["verbs"])): r["resourceNames"] for r in role["rules"]}
    assert names == {
        ("agentruns", ("get",)): ["keeper-x1"],
        ("agentruns/status", ("get", "patch", "update")): ["keeper-x1"],
        ("infraagents", ("get",)): ["keeper"],
        ("agentenvironments", ("get",)): ["lab"],
        ("serviceaccounts", ("impersonate",)): ["infraagent-agent-keeper"],
        ("configmaps", ("get",)): ["infraagent-skill-ops"],
    }
    subject = {"kind": "ServiceAccount", "name": "infraagent-agent-keeper", "namespace": "shop"}
    assert binding["subjects"] == cluster_binding["subjects"] == [subject]
    assert cluster_binding["roleRef"]["name"] == RUN_READER


def test_the_key_secret_holds_only_the_key() -> None:
    secret = key_secret("keeper", "keeper-x1", "shop", "sk-1")
    assert secret["stringData"] == {"api-key": "sk-1"}
    assert secret["metadata"]["namespace"] == "shop"


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "--agent-run", "keeper-x1"],
        ["run", "a.yaml", "--agent-run", "x", "--namespace", "n"],
    ],
)
def test_run_takes_an_agent_file_or_an_agent_run_with_its_namespace(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "give AGENT_FILE, or --agent-run and --namespace" in capsys.readouterr().err
