"""The admission policy generator: structure, names, identity matching and coverage.

What the policy does on a real server is proven in
``tests/integration/test_admission_policy.py``; here we check the generated documents.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from infraagent.admission import (
    AGENT_SERVICE_ACCOUNT_PREFIX,
    BINDING_NAME,
    MESSAGE_PREFIX,
    POLICY_NAME,
    admission_policy,
    agent_service_account_name,
    agent_username,
)
from infraagent.guardrails.resources import DATA_KINDS


def _policy(*namespaces: str) -> dict[str, Any]:
    return admission_policy(namespaces)[0]


def _rules(operation: str) -> set[tuple[str, str]]:
    return {
        (group, resource)
        for rule in _policy()["spec"]["matchConstraints"]["resourceRules"]
        if operation in rule["operations"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def _identity_pattern(*namespaces: str) -> re.Pattern[str]:
    (condition,) = _policy(*namespaces)["spec"]["matchConditions"]
    found = re.fullmatch(r"request\.userInfo\.username\.matches\('(.*)'\)", condition["expression"])
    assert found is not None
    return re.compile(found.group(1))


def test_policy_and_binding_structure() -> None:
    policy, binding = admission_policy()
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert policy["metadata"]["name"] == POLICY_NAME == "infraagent-data-protection"
    assert binding["metadata"]["name"] == BINDING_NAME
    assert binding["spec"] == {"policyName": POLICY_NAME, "validationActions": ["Deny"]}
    assert policy["spec"]["failurePolicy"] == "Fail"
    for validation in policy["spec"]["validations"]:
        assert validation["message"].startswith(MESSAGE_PREFIX)
        assert validation["reason"] == "Forbidden"


def test_naming_convention() -> None:
    assert AGENT_SERVICE_ACCOUNT_PREFIX == "infraagent-agent-"
    assert agent_service_account_name("db-doctor") == "infraagent-agent-db-doctor"
    assert (
        agent_username("ops", "db-doctor") == "system:serviceaccount:ops:infraagent-agent-db-doctor"
    )


def test_identity_matches_agents_only() -> None:
    pattern = _identity_pattern()
    assert pattern.fullmatch(agent_username("ops", "db-doctor"))
    assert pattern.fullmatch(agent_username("kube-system", "x"))
    for other in (
        "kubernetes-admin",
        "system:admin",
        "infraagent-agent-x",  # a user, not a ServiceAccount
        "system:serviceaccount:ops:default",
        "system:serviceaccount:ops:infraagent",  # the operator itself
        "system:serviceaccount:ops:my-infraagent-agent-x",
        "system:serviceaccount:infraagent-agent-x:builder",
        "system:serviceaccount:ops:infraagent-agent-",
    ):
        assert not pattern.fullmatch(other), other


def test_identity_narrowed_to_namespaces() -> None:
    pattern = _identity_pattern("ops", "shop", "ops")
    assert pattern.fullmatch(agent_username("shop", "a"))
    assert not pattern.fullmatch(agent_username("other", "a"))
    assert not pattern.fullmatch(agent_username("shopx", "a"))
    with pytest.raises(ValueError, match="not a namespace name"):
        admission_policy(["ops|.*"])


def test_every_data_kind_delete_is_matched_and_named() -> None:
    deletes = _rules("DELETE")
    assert deletes >= DATA_KINDS
    expected = {("", r) for r in ("persistentvolumeclaims", "persistentvolumes", "namespaces")}
    expected |= {("", "secrets")}
    expected |= {
        ("snapshot.storage.k8s.io", r) for r in ("volumesnapshots", "volumesnapshotcontents")
    }
    assert expected <= deletes
    validation = _policy()["spec"]["validations"][0]
    for group, resource in DATA_KINDS:
        assert f"'{group}/{resource}'" in validation["expression"]
        assert f"'{group}/{resource}': '" in validation["messageExpression"]
    lookup = validation["messageExpression"]
    assert "'/persistentvolumeclaims': 'PersistentVolumeClaims'" in lookup
    assert "'/secrets': 'Secrets'" in lookup
    assert "'postgresql.cnpg.io/clusters': 'Clusters (postgresql.cnpg.io)'" in lookup
    assert "'elasticsearch.k8s.elastic.co/elasticsearches': 'Elasticsearches (" in lookup


def test_updates_and_patches_of_volumes_are_matched() -> None:
    # PATCH reaches admission as UPDATE.
    assert {("", "persistentvolumes"), ("", "persistentvolumeclaims")} <= _rules("UPDATE")
    messages = [v["message"] for v in _policy()["spec"]["validations"]]
    assert MESSAGE_PREFIX + "agents never set a PersistentVolume's reclaim policy to Delete" in (
        messages
    )
    assert any("kubernetes.io/pvc-protection" in m for m in messages)
    assert any("kubernetes.io/pv-protection" in m for m in messages)


@pytest.mark.parametrize(
    "group", ["rbac.authorization.k8s.io", "admissionregistration.k8s.io", "core.infraagent.io"]
)
def test_control_groups_are_fully_write_protected(group: str) -> None:
    for operation in ("CREATE", "UPDATE", "DELETE"):
        assert (group, "*/*") in _rules(operation)
    assert any(
        v["expression"].startswith(f"request.resource.group != '{group}'")
        for v in _policy()["spec"]["validations"]
    )


def test_crds_are_write_protected() -> None:
    for operation in ("CREATE", "UPDATE", "DELETE"):
        assert ("apiextensions.k8s.io", "customresourcedefinitions") in _rules(operation)


def test_generation_is_deterministic() -> None:
    assert admission_policy() == admission_policy()
