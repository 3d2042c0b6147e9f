"""The CRDs in crds/ are generated from the models, structural, and self-consistent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.cli.main import main
from infraagent.models.crd import KIND_SPECS, all_crds, render

REPO = Path(__file__).resolve().parents[2]
CRD_FILES = sorted((REPO / "crds").glob("*.yaml"))
TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def _root(doc: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def _walk(node: dict[str, Any], path: str = ""):  # type: ignore[no-untyped-def]
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def test_committed_crds_equal_a_fresh_generation() -> None:
    expected = {name: render(doc) for name, doc in all_crds().items()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in CRD_FILES}
    assert committed == expected, "crds/ is stale: run `infraagent crds generate`"


def test_crds_check_command_notices_a_hand_edit(tmp_path: Path) -> None:
    assert main(["crds", "generate", "--output", str(tmp_path)]) == 0
    assert main(["crds", "check", "--output", str(tmp_path)]) == 0
    victim = tmp_path / "core.infraagent.io_agentruns.yaml"
    victim.write_text(victim.read_text().replace("maxItems: 120", "maxItems: 9999"))
    assert main(["crds", "check", "--output", str(tmp_path)]) == 1


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_every_schema_node_is_structural(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    for banned in ("$ref", "anyOf", "oneOf", "allOf", "uniqueItems", "nullable"):
        assert banned not in text, f"{banned} is not allowed in a structural schema"
    for where, node in _walk(_root(doc)):
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert node.get("type") == "object", where
            continue
        assert node.get("type") in TYPES, f"{path.name}{where} has no type"
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{where}: array without item type"
        if "properties" in node:
            assert "additionalProperties" not in node, where
        if "default" in node:
            _assert_valid_default(node, where)


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_every_field_has_a_description_for_kubectl_explain(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    root = _root(doc)
    for where, node in _walk(root["properties"]["spec"], ".spec"):
        if not where.endswith("[]") and not where.endswith(".*"):
            assert node.get("description"), f"{path.name}{where} has no description"
    for where, node in _walk(root["properties"]["status"], ".status"):
        if not where.endswith("[]") and not where.endswith(".*"):
            assert node.get("description"), f"{path.name}{where} has no description"


def _assert_valid_default(node: dict[str, Any], where: str) -> None:
    value = node["default"]
    python_types = {
        "string": str,
        "integer": int,
        "boolean": bool,
        "object": dict,
        "array": list,
        "number": (int, float),
    }
    assert isinstance(value, python_types[node["type"]]), f"{where}: default {value!r}"
    if "enum" in node:
        assert value in node["enum"], f"{where}: default {value!r} not in enum"
    if "pattern" in node:
        assert re.search(node["pattern"], value), f"{where}: default {value!r} fails pattern"


def _resolve_json_path(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in re.findall(r"\.([A-Za-z]+)(\[\?\(@\.\w+==\"\w+\"\)\])?", path):
        name, selector = part
        node = node["properties"][name]
        if selector:
            assert node["type"] == "array"
            node = node["items"]
    return node


@pytest.mark.parametrize("spec", KIND_SPECS, ids=lambda s: s.kind)
def test_printer_columns_point_at_real_fields(spec: Any) -> None:
    doc = all_crds()[f"core.infraagent.io_{spec.plural}.yaml"]
    version = doc["spec"]["versions"][0]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            continue
        target = _resolve_json_path(_root(doc), column["jsonPath"])
        assert target.get("type") in TYPES, column
        if column["type"] == "integer":
            assert target["type"] == "integer", column
        if column["type"] == "date":
            assert target.get("format") == "date-time", column


def test_agentrun_columns_show_what_operators_ask_for() -> None:
    doc = all_crds()["core.infraagent.io_agentruns.yaml"]
    names = [c["name"] for c in doc["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert names == ["Agent", "Phase", "Trigger", "Tokens", "Cost", "Duration-ms", "Age"]


def test_names_scopes_and_categories() -> None:
    crds = {d["spec"]["names"]["kind"]: d for d in all_crds().values()}
    assert {k: d["spec"]["scope"] for k, d in crds.items()} == {
        "InfraAgent": "Namespaced",
        "AgentEnvironment": "Namespaced",
        "ModelTierConfig": "Cluster",
        "AgentRun": "Namespaced",
        "FleetSource": "Namespaced",
    }
    assert {k: d["spec"]["names"]["shortNames"] for k, d in crds.items()} == {
        "InfraAgent": ["ia"],
        "AgentEnvironment": ["aenv"],
        "ModelTierConfig": ["mtc"],
        "AgentRun": ["arun"],
        "FleetSource": ["fs"],
    }
    for doc in crds.values():
        assert doc["spec"]["names"]["categories"] == ["infraagent"]
        assert doc["spec"]["group"] == "core.infraagent.io"
        version = doc["spec"]["versions"][0]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}


def test_agentrun_immutability_rules_are_in_the_schema() -> None:
    root = _root(all_crds()["core.infraagent.io_agentruns.yaml"])
    spec_rules = root["properties"]["spec"]["x-kubernetes-validations"]
    assert spec_rules == [{"rule": "self == oldSelf", "message": "an AgentRun's spec is immutable"}]
    status_rule = root["properties"]["status"]["x-kubernetes-validations"][0]["rule"]
    for phase in ("Succeeded", "Failed", "Escalated", "Blocked", "Interrupted"):
        assert f"'{phase}'" in status_rule
    assert "self == oldSelf" in status_rule


def test_conditions_are_metav1_shaped_everywhere() -> None:
    for doc in all_crds().values():
        status = _root(doc)["properties"]["status"]
        conditions = status["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        item = conditions["items"]
        assert set(item["required"]) >= {"type", "status", "lastTransitionTime", "reason"}
        assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def test_original_phantom_status_fields_are_gone() -> None:
    env = _root(all_crds()["core.infraagent.io_agentenvironments.yaml"])["properties"]["status"]
    tiers = _root(all_crds()["core.infraagent.io_modeltierconfigs.yaml"])["properties"]["status"]
    assert "referencedBy" not in env["properties"] and "endpointCount" not in env["properties"]
    assert "tierCount" not in tiers["properties"]
