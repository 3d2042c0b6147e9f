"""The CRDs in ``crds/`` on a real kube-apiserver: they install, validate, explain and print.

Everything here goes through the real server (and the real kubectl where a user would use
it): structural schemas and CEL rules must compile, custom resources that break the schema
are refused with a readable message, AgentRuns are immutable audit records (spec fixed,
status final once terminal), and the printer columns, short names, category and scopes work.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from infraagent.models.agent import GuardrailsSpec, InfraAgentSpec

from .conftest import REPO, ControlPlane, apply_crd, load_crd_files, wait_established

GROUP, VERSION = "core.infraagent.io", "v1alpha1"
MERGE = "application/merge-patch+json"


def _load(path: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / path).read_text(encoding="utf-8"))
    return doc


def _agent(name: str, **guardrails: Any) -> dict[str, Any]:
    agent = _load("agents/hello-world.yaml")
    agent["metadata"] = {"name": name}
    agent["spec"]["guardrails"].update(guardrails)
    return agent


def _reason(err: ApiException) -> str:
    body = err.body if isinstance(err.body, str) else (err.body or b"").decode()
    try:
        message: str = json.loads(body)["message"]
        return message
    except (ValueError, KeyError, TypeError):
        return body


def _objects(kube_api: Any) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api)


# --------------------------------------------------------------------------- (a) install


def test_every_crd_is_accepted_and_established(kube_api: Any) -> None:
    """Structural schemas, defaults and CEL rules all compile on the real server."""
    crds = load_crd_files()
    assert {c["spec"]["names"]["kind"] for c in crds} == {
        "InfraAgent",
        "AgentEnvironment",
        "ModelTierConfig",
        "AgentRun",
        "FleetSource",
    }
    rejected = {}
    for crd in crds:
        try:
            apply_crd(kube_api, crd)
        except ApiException as err:
            rejected[crd["metadata"]["name"]] = _reason(err)
    assert rejected == {}
    for crd in crds:
        conditions = wait_established(kube_api, crd["metadata"]["name"])
        assert conditions.get("NamesAccepted") == "True", conditions
        assert conditions.get("Established") == "True", conditions
        assert "NonStructuralSchema" not in conditions, conditions


def _fleet_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for folder in ("agents", "environments"):
        for path in sorted((REPO / folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc:
                    docs.append((str(path.relative_to(REPO)), doc))
    return docs


def test_the_example_fleet_is_accepted_by_the_server(
    kube_api: Any, crds: list[str], namespace: str
) -> None:
    """Every definition `infraagent validate` passes is also valid for the API server, and
    none of its fields is unknown to the CRD (Strict: nothing would be pruned silently)."""
    api = _objects(kube_api)
    plurals = {"InfraAgent": "infraagents", "AgentEnvironment": "agentenvironments"}
    rejected = {}
    documents = _fleet_documents()
    assert len(documents) >= 10
    for path, doc in documents:
        try:
            if doc["kind"] == "ModelTierConfig":
                api.create_cluster_custom_object(
                    GROUP,
                    VERSION,
                    "modeltierconfigs",
                    doc,
                    dry_run="All",
                    field_validation="Strict",
                )
            else:
                api.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    plurals[doc["kind"]],
                    doc,
                    dry_run="All",
                    field_validation="Strict",
                )
        except ApiException as err:
            rejected[path] = _reason(err)
    assert rejected == {}


# --------------------------------------------------------------------------- (b) rejection


def test_kubectl_shows_why_a_bad_autonomy_is_refused(
    control_plane: ControlPlane, crds: list[str], namespace: str
) -> None:
    manifest = yaml.safe_dump(_agent("reckless", autonomy="yolo"))
    result = control_plane.kubectl(
        "create", "-n", namespace, "-f", "-", stdin=manifest, check=False
    )
    assert result.returncode != 0
    assert 'The InfraAgent "reckless" is invalid' in result.stderr
    assert 'spec.guardrails.autonomy: Unsupported value: "yolo"' in result.stderr
    for allowed in ("observe", "recommend", "automate-safe", "automate-destructive"):
        assert f'"{allowed}"' in result.stderr
    listed = control_plane.kubectl("get", "infraagents", "-n", namespace, "-o", "name")
    assert listed.stdout.strip() == ""


def test_an_agent_name_longer_than_63_characters_is_refused(
    kube_api: Any, crds: list[str], namespace: str
) -> None:
    """Agent names become ServiceAccount and label values: the schema caps them at 63."""
    api = _objects(kube_api)
    with pytest.raises(ApiException) as refused:
        api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "infraagents", _agent("a" * 64)
        )
    assert refused.value.status == 422
    message = _reason(refused.value)
    assert "metadata.name" in message
    assert "63" in message
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "infraagents", _agent("a" * 63)
    )
    assert created["metadata"]["name"] == "a" * 63


def test_schema_defaults_are_applied_by_the_server(
    kube_api: Any, crds: list[str], namespace: str
) -> None:
    agent = _agent("defaults")
    del agent["spec"]["guardrails"]["autonomy"]
    created = _objects(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "infraagents", agent
    )
    assert created["spec"]["guardrails"]["autonomy"] == "observe"


# --------------------------------------------------------------------------- (c) explain


def _words(text: str) -> str:
    return " ".join(text.split())


def test_kubectl_explain_prints_the_models_field_descriptions(
    control_plane: ControlPlane, crds: list[str]
) -> None:
    result = control_plane.kubectl("explain", "infraagent.spec.guardrails")
    out = _words(result.stdout)
    assert "KIND: InfraAgent" in out
    assert f"VERSION: {VERSION}" in out
    guardrails = InfraAgentSpec.model_fields["guardrails"].description
    assert guardrails and _words(guardrails) in out
    assert GuardrailsSpec.model_fields
    for name, info in GuardrailsSpec.model_fields.items():
        assert re.search(rf"^\s*{name}\s+<", result.stdout, re.M), f"{name} not listed"
        assert info.description and _words(info.description) in out, name


# --------------------------------------------------------------------------- (d) AgentRun rules


def _run(name: str, *, agent: str = "hello-world", trigger: str = "manual") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name, "labels": {"infraagent.io/agent": agent}},
        "spec": {
            "agentRef": agent,
            "environmentRef": "dev-lab",
            "trigger": trigger,
            "modelUsed": "anthropic/claude-3-5-haiku-20241022",
            "autonomy": "observe",
            "limits": {"tokenBudget": 4000, "maxIterations": 3, "timeoutSeconds": 30},
        },
    }


def _patch_status(
    kube_api: Any, namespace: str, name: str, status: dict[str, Any] | None
) -> dict[str, Any]:
    patched: dict[str, Any] = _objects(kube_api).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "agentruns", name, {"status": status}, _content_type=MERGE
    )
    return patched


def _create_run(kube_api: Any, namespace: str, name: str, **kw: Any) -> dict[str, Any]:
    created: dict[str, Any] = _objects(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "agentruns", _run(name, **kw)
    )
    return created


def test_an_agentruns_spec_cannot_change(kube_api: Any, crds: list[str], namespace: str) -> None:
    api = _objects(kube_api)
    _create_run(kube_api, namespace, "run-1")
    with pytest.raises(ApiException) as refused:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "agentruns",
            "run-1",
            {"spec": {"trigger": "webhook"}},
            _content_type=MERGE,
        )
    assert refused.value.status == 422
    assert "an AgentRun's spec is immutable" in _reason(refused.value)
    stored = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "agentruns", "run-1")
    assert stored["spec"]["trigger"] == "manual"
    # Labels are metadata, not spec: the operator may still label a run.
    api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "agentruns",
        "run-1",
        {"metadata": {"labels": {"retained": "yes"}}},
        _content_type=MERGE,
    )


def test_an_agentruns_status_is_final_once_terminal(
    kube_api: Any, crds: list[str], namespace: str
) -> None:
    _create_run(kube_api, namespace, "run-2")
    running = {"phase": "Running", "startTime": "2026-11-27T10:00:00Z"}
    assert _patch_status(kube_api, namespace, "run-2", running)["status"]["phase"] == "Running"
    progress = _patch_status(
        kube_api, namespace, "run-2", {"usage": {"totalTokens": 812, "iterations": 1}}
    )
    assert progress["status"]["usage"]["totalTokens"] == 812
    done = _patch_status(
        kube_api,
        namespace,
        "run-2",
        {"phase": "Succeeded", "completionTime": "2026-11-27T10:00:05Z", "reason": "Completed"},
    )
    assert done["status"]["phase"] == "Succeeded"
    for change in (
        {"phase": "Running"},
        {"usage": {"totalTokens": 1}},
        {"reason": "Rewritten"},
    ):
        with pytest.raises(ApiException) as refused:
            _patch_status(kube_api, namespace, "run-2", change)
        assert refused.value.status == 422, change
        assert "a finished AgentRun's status is final" in _reason(refused.value), change
    stored = _objects(kube_api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "agentruns", "run-2"
    )
    assert stored["status"]["phase"] == "Succeeded"
    assert stored["status"]["usage"]["totalTokens"] == 812


def test_a_finished_agentruns_status_cannot_be_removed(
    kube_api: Any, crds: list[str], namespace: str
) -> None:
    _create_run(kube_api, namespace, "run-3")
    _patch_status(kube_api, namespace, "run-3", {"phase": "Failed", "reason": "Timeout"})
    with pytest.raises(ApiException) as refused:
        _patch_status(kube_api, namespace, "run-3", None)
    assert refused.value.status == 422
    assert "a finished AgentRun's status is final" in _reason(refused.value)


# --------------------------------------------------------------------------- (e) printer columns


def test_kubectl_get_agentruns_shows_the_printer_columns(
    control_plane: ControlPlane, kube_api: Any, crds: list[str], namespace: str
) -> None:
    _create_run(kube_api, namespace, "nightly-audit", agent="watchman-light", trigger="scheduled")
    _patch_status(kube_api, namespace, "nightly-audit", {"phase": "Running"})
    _patch_status(
        kube_api,
        namespace,
        "nightly-audit",
        {
            "phase": "Succeeded",
            "usage": {"totalTokens": 12345, "estimatedCost": "0.0421", "wallClockMs": 6789},
        },
    )
    out = control_plane.kubectl("get", "agentruns", "-n", namespace).stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "AGENT",
        "PHASE",
        "TRIGGER",
        "TOKENS",
        "COST",
        "DURATION-MS",
        "AGE",
    ]
    assert len(out) == 2, out
    row = out[1].split()
    assert row[:7] == [
        "nightly-audit",
        "watchman-light",
        "Succeeded",
        "scheduled",
        "12345",
        "0.0421",
        "6789",
    ]
    assert re.fullmatch(r"[0-9]+[smhd].*", row[7]), row[7]


# --------------------------------------------------------------------------- (f) names and scope


def test_short_names_category_and_scopes(
    control_plane: ControlPlane, kube_api: Any, crds: list[str], namespace: str, tmp_path: Path
) -> None:
    api = _objects(kube_api)
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "infraagents", _agent("hello-world")
    )
    env = _load("environments/dev-lab.yaml")
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "agentenvironments", env)
    _create_run(kube_api, namespace, "hello-world-x1")
    tiers = _load("environments/model-tiers.yaml")
    tiers["metadata"] = {"name": f"tiers-{namespace}"[:63]}
    mtc = tiers["metadata"]["name"]
    api.create_cluster_custom_object(GROUP, VERSION, "modeltierconfigs", tiers)
    try:
        resources = control_plane.kubectl(
            "api-resources", f"--api-group={GROUP}", "-o", "wide", "--no-headers"
        ).stdout
        scopes = {line.split()[0]: line for line in resources.splitlines() if line.strip()}
        assert set(scopes) == {
            "infraagents",
            "agentenvironments",
            "modeltierconfigs",
            "agentruns",
            "fleetsources",
        }
        for plural, namespaced in (
            ("modeltierconfigs", "false"),
            ("infraagents", "true"),
            ("agentenvironments", "true"),
            ("agentruns", "true"),
        ):
            assert f" {namespaced} " in scopes[plural], scopes[plural]
            assert "infraagent" in scopes[plural].split()[-1], scopes[plural]

        def names(*args: str) -> set[str]:
            got = control_plane.kubectl("get", *args, "-o", "name").stdout.split()
            return set(got)

        assert names("ia", "-n", namespace) == {"infraagent.core.infraagent.io/hello-world"}
        assert names("aenv", "-n", namespace) == {"agentenvironment.core.infraagent.io/dev-lab"}
        assert names("arun", "-n", namespace) == {"agentrun.core.infraagent.io/hello-world-x1"}
        # Cluster-scoped: listed with or without a namespace, and has none itself.
        assert f"modeltierconfig.core.infraagent.io/{mtc}" in names("mtc")
        assert f"modeltierconfig.core.infraagent.io/{mtc}" in names("mtc", "-n", namespace)
        stored = api.get_cluster_custom_object(GROUP, VERSION, "modeltierconfigs", mtc)
        assert "namespace" not in stored["metadata"]
        everything = names("infraagent", "-n", namespace)
        assert {
            "infraagent.core.infraagent.io/hello-world",
            "agentenvironment.core.infraagent.io/dev-lab",
            "agentrun.core.infraagent.io/hello-world-x1",
            f"modeltierconfig.core.infraagent.io/{mtc}",
        } <= everything
    finally:
        api.delete_cluster_custom_object(GROUP, VERSION, "modeltierconfigs", mtc)
