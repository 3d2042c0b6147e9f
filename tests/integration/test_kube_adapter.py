"""``KubeClient`` against the real kube-apiserver: apply, typed errors, status, discovery.

The traps this guards: an apply that *creates* a custom object must still return it (the
SDK's typed call returns None there); a second identical apply must not write (no
``resourceVersion`` move); API failures arrive as the typed ``KubeError`` subclasses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.errors import (
    InfraAgentError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
)
from infraagent.guardrails.restmapper import RestMapper

from .conftest import REPO, ControlPlane

TIER_API = "core.infraagent.io/v1alpha1"


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


def _config_map(namespace: str, name: str = "settings", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data or {"mode": "calm"},
    }


def _tier_config(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        (REPO / "environments/model-tiers.yaml").read_text(encoding="utf-8")
    )
    doc["metadata"] = {"name": name}
    return doc


def test_apply_creates_and_returns_a_core_object(kube: KubeClient, namespace: str) -> None:
    created = kube.apply(_config_map(namespace))
    assert created["metadata"]["uid"]
    assert created["data"] == {"mode": "calm"}
    managers = {m["manager"] for m in created["metadata"]["managedFields"]}
    assert managers == {"infraagent"}
    assert (
        kube.get("v1", "ConfigMap", "settings", namespace)["metadata"]["uid"]
        == (created["metadata"]["uid"])
    )


def test_apply_creates_and_returns_a_cluster_scoped_custom_object(kube: KubeClient) -> None:
    name = f"tiers-{uuid.uuid4().hex[:6]}"
    try:
        created = kube.apply(_tier_config(name))
        assert created["kind"] == "ModelTierConfig"
        assert created["metadata"]["name"] == name
        assert "namespace" not in created["metadata"]
        assert created["spec"]["tiers"][0]["tier"] == "fast"
    finally:
        kube.delete(TIER_API, "ModelTierConfig", name)


def test_apply_keeps_characters_beyond_the_basic_plane(kube: KubeClient, namespace: str) -> None:
    # Example agents carry emoji; the apply body must reach the server as UTF-8, not as
    # surrogate escapes its YAML decoder refuses.
    text = "📊 weekly \U0001f680 report, ünïcödé"
    applied = kube.apply(_config_map(namespace, "emoji", description=text))
    assert applied["data"]["description"] == text
    again, outcome = kube.apply_with_outcome(_config_map(namespace, "emoji", description=text))
    assert outcome == "unchanged"
    assert again["metadata"]["resourceVersion"] == applied["metadata"]["resourceVersion"]


def test_second_identical_apply_changes_nothing(kube: KubeClient, namespace: str) -> None:
    first, changed = kube.apply_if_changed(_config_map(namespace))
    assert changed
    second, changed_again = kube.apply_if_changed(_config_map(namespace))
    assert not changed_again
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    live = kube.get("v1", "ConfigMap", "settings", namespace)
    assert live["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    third, changed = kube.apply_if_changed(_config_map(namespace, mode="busy"))
    assert changed
    assert third["data"] == {"mode": "busy"}
    assert third["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]


def test_unchanged_custom_object_is_not_rewritten(kube: KubeClient) -> None:
    name = f"tiers-{uuid.uuid4().hex[:6]}"
    try:
        first, outcome = kube.apply_with_outcome(_tier_config(name))
        assert outcome == "created"
        again, outcome = kube.apply_with_outcome(_tier_config(name))
        assert outcome == "unchanged"
        assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    finally:
        kube.delete(TIER_API, "ModelTierConfig", name)


def test_api_failures_are_typed_errors(kube: KubeClient, namespace: str) -> None:
    with pytest.raises(KubeNotFound, match="404") as missing:
        kube.get("v1", "ConfigMap", "absent", namespace)
    assert isinstance(missing.value, KubeError)
    assert isinstance(missing.value, InfraAgentError)
    assert missing.value.status == 404
    assert missing.value.__cause__ is not None  # chained from the SDK's ApiException

    kube.create(_config_map(namespace, name="once"))
    with pytest.raises(KubeConflict) as conflict:
        kube.create(_config_map(namespace, name="once"))
    assert conflict.value.status == 409
    assert "AlreadyExists" in str(conflict.value)

    with pytest.raises(KubeInvalid) as invalid:
        kube.apply(_config_map(namespace, name="Not_A_Name"))
    assert invalid.value.status == 422
    assert "Not_A_Name" in str(invalid.value)

    with pytest.raises(KubeNotFound, match="no kind"):
        kube.get("v1", "NoSuchKind", "x", namespace)


def test_impersonated_identity_without_rights_is_forbidden(
    kube: KubeClient, namespace: str
) -> None:
    kube.apply(_config_map(namespace))
    nobody = f"system:serviceaccount:{namespace}:nobody"
    with kube.impersonating(nobody) as as_nobody, pytest.raises(KubeForbidden) as denied:
        as_nobody.get("v1", "ConfigMap", "settings", namespace)
    assert denied.value.status == 403
    assert nobody in str(denied.value)
    assert kube.get("v1", "ConfigMap", "settings", namespace)  # the admin still can


def test_patch_status_and_list(kube: KubeClient) -> None:
    name = f"tiers-{uuid.uuid4().hex[:6]}"
    try:
        kube.apply(_tier_config(name))
        patched = kube.patch_status(
            TIER_API, "ModelTierConfig", name, {"ready": True, "tierStatus": {"fast": "ok"}}
        )
        assert patched["status"]["ready"] is True
        assert kube.get(TIER_API, "ModelTierConfig", name)["status"]["tierStatus"] == {"fast": "ok"}
        listed = kube.list(TIER_API, "ModelTierConfig")
        assert listed.resource_version
        assert name in {item["metadata"]["name"] for item in listed.items}
        assert all(item["kind"] == "ModelTierConfig" for item in listed.items)
    finally:
        kube.delete(TIER_API, "ModelTierConfig", name)
    with pytest.raises(KubeNotFound):
        kube.get(TIER_API, "ModelTierConfig", name)


def test_discovery_feeds_the_rest_mapper(kube: KubeClient) -> None:
    resources = kube.discovery()
    by_resource = {(r.group, r.resource): r for r in resources}
    for plural in ("infraagents", "agentenvironments", "modeltierconfigs", "agentruns"):
        info = by_resource[("core.infraagent.io", plural)]
        assert info.version == "v1alpha1"
        assert "status" in info.subresources
    assert not by_resource[("core.infraagent.io", "modeltierconfigs")].namespaced
    assert by_resource[("apps", "deployments")].subresources >= {"status", "scale"}
    mapper = RestMapper.builtin().with_discovery(resources)
    (pods,) = mapper.resolve("po")
    assert (pods.group, pods.resource) == ("", "pods")
