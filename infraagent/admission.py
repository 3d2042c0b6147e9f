"""Admission-level data protection: the ValidatingAdmissionPolicy that stops agents losing data.

This is the third of the three independent layers (architecture.md §3). Even with the
guardrail engine bypassed and an agent's RBAC wide open, the API server itself rejects, for
requests made **by an agent identity only**:

- DELETE (and deletecollection, which admission sees as DELETE) of every kind in
  ``DATA_KINDS``: PersistentVolumeClaims, PersistentVolumes, Namespaces, Secrets, volume
  snapshots (single and group) and their contents, and the data operators' kinds;
- UPDATE (PUT, and every PATCH, which admission sees as UPDATE) of a PersistentVolume that
  changes ``spec.persistentVolumeReclaimPolicy`` to ``Delete``;
- UPDATE of a PersistentVolumeClaim or PersistentVolume that removes any finalizer (above all
  ``kubernetes.io/pvc-protection`` / ``kubernetes.io/pv-protection``);
- CREATE, UPDATE or DELETE of RBAC objects, admission configuration, CustomResourceDefinitions
  (deleting one deletes every object of its kind) and InfraAgent's own resources, except
  an update of the status of an AgentRun whose ``spec.agentRef`` is the agent itself, in its
  own namespace (a run executing as a Kubernetes Job records itself; RBAC narrows that to
  the one run).

Agent identities (the naming convention shared with the per-agent RBAC generator): every
agent ``<agent>`` runs as the ServiceAccount ``infraagent-agent-<agent>`` in its namespace, so
its username is ``system:serviceaccount:<namespace>:infraagent-agent-<agent>``. The policy's
``matchConditions`` select exactly those usernames, so ordinary admins, controllers and the
operator itself are never affected. Nothing else may use the ``infraagent-agent-`` prefix.

Note that kube-apiserver exempts admission configuration objects (webhook configurations,
admission policies and their bindings) from *all* admission policies and webhooks, so the
rule for ``admissionregistration.k8s.io`` documents intent but cannot fire: the policy
cannot protect itself. RBAC (agents never get rights on admission objects) and the operator
(which puts the policy back) guard it instead.

Pure data: this module builds plain dicts; applying them is the Kubernetes adapter's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from infraagent.guardrails.resources import BUILTIN_RESOURCES, DATA_KINDS
from infraagent.models.common import API_GROUP

POLICY_NAME: Final = "infraagent-data-protection"
BINDING_NAME: Final = POLICY_NAME
AGENT_SERVICE_ACCOUNT_PREFIX: Final = "infraagent-agent-"
MESSAGE_PREFIX: Final = "InfraAgent data protection: "

_ADMISSION_API: Final = "admissionregistration.k8s.io/v1"
_RBAC: Final = "rbac.authorization.k8s.io"
_ADMISSION: Final = "admissionregistration.k8s.io"
_CRDS: Final = ("apiextensions.k8s.io", "customresourcedefinitions")
_ALL_WRITES: Final = ("CREATE", "UPDATE", "DELETE")
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# (group, message) of the API groups agents may not write at all.
_CONTROL_GROUPS: Final = (
    (_RBAC, "agents never create, change or delete RBAC objects"),
    (_ADMISSION, "agents never create, change or delete admission configuration"),
    (API_GROUP, "agents never create, change or delete InfraAgent resources"),
)


def agent_service_account_name(agent: str) -> str:
    """The ServiceAccount an agent runs as: ``infraagent-agent-<agent>``."""
    return AGENT_SERVICE_ACCOUNT_PREFIX + agent


def agent_username(namespace: str, agent: str) -> str:
    """The username the API server sees for that ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{agent_service_account_name(agent)}"


def admission_policy(agent_namespaces: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding (``validationActions: [Deny]``).

    ``agent_namespaces`` narrows the agent identities to ServiceAccounts in those namespaces;
    empty (the default, and the safest) means an ``infraagent-agent-*`` ServiceAccount in any
    namespace.
    """
    namespaces = sorted(set(agent_namespaces))
    bad = [ns for ns in namespaces if not _DNS_LABEL.match(ns)]
    if bad:
        raise ValueError(f"not a namespace name: {', '.join(bad)}")
    policy = {
        "apiVersion": _ADMISSION_API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME, "labels": _labels()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": _resource_rules()},
            "matchConditions": [
                {"name": "is-infraagent-agent", "expression": _identity_expression(namespaces)}
            ],
            "validations": _validations(),
        },
    }
    binding = {
        "apiVersion": _ADMISSION_API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": BINDING_NAME, "labels": _labels()},
        "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": "infraagent", "app.kubernetes.io/component": "admission"}


def _identity_expression(namespaces: list[str]) -> str:
    ns = "[^:]+" if not namespaces else "(" + "|".join(namespaces) + ")"
    pattern = f"^system:serviceaccount:{ns}:{AGENT_SERVICE_ACCOUNT_PREFIX}[^:]+$"
    return f"request.userInfo.username.matches('{pattern}')"


def _cel_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def _rule(group: str, resources: Iterable[str], operations: Iterable[str]) -> dict[str, Any]:
    return {
        "apiGroups": [group],
        "apiVersions": ["*"],
        "resources": sorted(resources),
        "operations": list(operations),
        "scope": "*",
    }


def _resource_rules() -> list[dict[str, Any]]:
    by_group: dict[str, set[str]] = {}
    for group, resource in DATA_KINDS:
        by_group.setdefault(group, set()).add(resource)
    rules = [_rule(group, by_group[group], ["DELETE"]) for group in sorted(by_group)]
    rules.append(_rule("", ["persistentvolumeclaims", "persistentvolumes"], ["UPDATE"]))
    rules.append(_rule(_CRDS[0], [_CRDS[1]], _ALL_WRITES))
    # "*/*" is every resource of the group and every subresource (such as status).
    rules.extend(_rule(group, ["*/*"], _ALL_WRITES) for group, _ in _CONTROL_GROUPS)
    return rules


def _key(group: str, resource: str) -> str:
    return f"{group}/{resource}"


def _plural(kind: str) -> str:
    if kind.endswith(("s", "x", "ch", "sh")):
        return kind + "es"
    if kind.endswith("y") and kind[-2:-1] not in "aeiou":
        return kind[:-1] + "ies"
    return kind + "s"


def _display_names() -> dict[str, str]:
    """``group/resource`` of each data kind → what a message calls it ("Secrets")."""
    kinds = {info.group_resource: info.kind for info in BUILTIN_RESOURCES}
    names = {}
    for group, resource in sorted(DATA_KINDS):
        name = _plural(kinds.get((group, resource), resource))
        names[_key(group, resource)] = name if not group else f"{name} ({group})"
    return names


def _data_delete_validation() -> dict[str, str]:
    names = _display_names()
    keys = _cel_list(names)
    lookup = "{" + ", ".join(f"'{k}': '{v}'" for k, v in names.items()) + "}"
    here = "request.resource.group + '/' + request.resource.resource"
    return {
        "expression": f"!(request.operation == 'DELETE' && ({here}) in {keys})",
        "messageExpression": f"'{MESSAGE_PREFIX}agents never delete ' + {lookup}[{here}]",
        "message": MESSAGE_PREFIX + "agents never delete data-holding resources",
        "reason": "Forbidden",
    }


def _reclaim_policy_validation() -> dict[str, str]:
    def policy(obj: str) -> str:
        return (
            f"(has({obj}.spec.persistentVolumeReclaimPolicy) ? "
            f"{obj}.spec.persistentVolumeReclaimPolicy : '')"
        )

    return {
        "expression": (
            "!(request.operation == 'UPDATE' && request.resource.group == '' && "
            "request.resource.resource == 'persistentvolumes' && "
            f"{policy('object')} == 'Delete' && {policy('oldObject')} != 'Delete')"
        ),
        "message": MESSAGE_PREFIX
        + "agents never set a PersistentVolume's reclaim policy to Delete",
        "reason": "Forbidden",
    }


def _finalizer_validation(resource: str, kind: str, finalizer: str) -> dict[str, str]:
    old = "(has(oldObject.metadata.finalizers) ? oldObject.metadata.finalizers : [])"
    new = "(has(object.metadata.finalizers) ? object.metadata.finalizers : [])"
    return {
        "expression": (
            "!(request.operation == 'UPDATE' && request.resource.group == '' && "
            f"request.resource.resource == '{resource}') || "
            f"{old}.all(f, f in {new})"
        ),
        "message": MESSAGE_PREFIX
        + f"agents never remove finalizers from {kind}s (such as {finalizer})",
        "reason": "Forbidden",
    }


# The one InfraAgent write an agent identity may make: the status of an AgentRun of its own
# agent in its own namespace (a run executing as a Job records itself).
_OWN_RUN_STATUS: Final = (
    "(request.operation == 'UPDATE' && request.resource.resource == 'agentruns' && "
    "request.subResource == 'status' && request.userInfo.username == "
    f"'system:serviceaccount:' + request.namespace + ':{AGENT_SERVICE_ACCOUNT_PREFIX}' + "
    "object.spec.agentRef)"
)


def _control_validations() -> list[dict[str, str]]:
    found = [
        {
            "expression": f"request.resource.group != '{group}'"
            + (f" || {_OWN_RUN_STATUS}" if group == API_GROUP else ""),
            "message": MESSAGE_PREFIX + message,
            "reason": "Forbidden",
        }
        for group, message in _CONTROL_GROUPS
    ]
    found.append(
        {
            "expression": (
                f"!(request.resource.group == '{_CRDS[0]}' && "
                f"request.resource.resource == '{_CRDS[1]}')"
            ),
            "message": MESSAGE_PREFIX + "agents never create, change or delete "
            "CustomResourceDefinitions (deleting one deletes every object of its kind)",
            "reason": "Forbidden",
        }
    )
    return found


def _validations() -> list[dict[str, str]]:
    return [
        _data_delete_validation(),
        _reclaim_policy_validation(),
        _finalizer_validation(
            "persistentvolumeclaims", "PersistentVolumeClaim", "kubernetes.io/pvc-protection"
        ),
        _finalizer_validation(
            "persistentvolumes", "PersistentVolume", "kubernetes.io/pv-protection"
        ),
        *_control_validations(),
    ]
