"""The manifests of one run executed as a Kubernetes Job (``runner: job``); pure data.

- ``run_job``: a ``batch/v1`` Job named after the AgentRun, in the agent's namespace, running
  ``infraagent run --agent-run <run> --namespace <ns>`` in the operator's image under the
  agent's own ServiceAccount (``infraagent-agent-<agent>``): one attempt (``backoffLimit: 0``,
  ``restartPolicy: Never``), ``activeDeadlineSeconds`` = the agent's timeout plus a margin,
  ``ttlSecondsAfterFinished``, resource requests and limits, and no privileges (non-root,
  no privilege escalation, read-only root filesystem with an emptyDir ``/tmp``, every
  capability dropped, the RuntimeDefault seccomp profile). The token is mounted: the pod
  talks to the API server as the agent.
- ``key_secret``: the provider key copied into a per-run Secret in the agent's namespace (a
  pod can reference only Secrets of its own namespace, and the tier's Secret usually lives in
  the operator's), injected as the env variable ``key_env(provider)`` with ``secretKeyRef``:
  the agent's ServiceAccount needs no right on Secrets.
- ``run_access``: what the pod may read and write beyond the agent's own RBAC: get its
  AgentRun, update its status (``resourceNames``: that run only), get its InfraAgent and
  AgentEnvironment and its skills' ConfigMaps, impersonate itself (the tool executor always
  impersonates the agent, here itself) — a Role and RoleBinding — and read the cluster's
  ModelTierConfigs (the shared ClusterRole ``RUN_READER`` and a per-run ClusterRoleBinding,
  deleted when the run is over). The admission policy lets an agent identity update the
  status of its own agent's AgentRuns and nothing else of InfraAgent's.

Names: the Job and its Role and RoleBinding carry the run's name; the Secret is
``<run>-llm-key``; the ClusterRoleBinding ``infraagent-run:<namespace>:<run>``. Every object
is labelled ``infraagent.io/agent`` and ``infraagent.io/agent-run``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from infraagent.identity import service_account_name
from infraagent.models.common import API_GROUP
from infraagent.models.keys import AGENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from infraagent.models.modeltier import Provider

RUN_LABEL: Final = "infraagent.io/agent-run"
RUN_READER: Final = "infraagent-run-reader"
KEY_SECRET_KEY: Final = "api-key"  # noqa: S105 - the name of a key, not a secret
_RBAC_API: Final = "rbac.authorization.k8s.io"
# The variables ``settings.Settings`` reads a provider's key from.
_KEY_ENV: Final = {Provider.ANTHROPIC: "ANTHROPIC_API_KEY", Provider.OPENAI: "OPENAI_API_KEY"}
_COMPATIBLE_KEY_ENV: Final = "INFRAAGENT_LLM_API_KEY"


@dataclass(frozen=True)
class JobSettings:
    """How the operator shapes run Jobs; ``image`` is the operator's own image."""

    image: str
    command: tuple[str, ...] = ("infraagent",)
    requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: Mapping[str, str] = field(default_factory=lambda: {"cpu": "1", "memory": "512Mi"})
    ttl_seconds_after_finished: int = 3600
    deadline_margin_seconds: int = 60
    run_as_user: int = 65532
    image_pull_policy: str = "IfNotPresent"


def key_env(provider: Provider) -> str:
    """The environment variable the pod's ``infraagent run`` reads the key of ``provider`` from."""
    return _KEY_ENV.get(provider, _COMPATIBLE_KEY_ENV)


def key_secret_name(run: str) -> str:
    """The per-run Secret holding the provider key."""
    return f"{run}-llm-key"


def cluster_binding_name(namespace: str, run: str) -> str:
    """The per-run ClusterRoleBinding to ``RUN_READER``."""
    return f"infraagent-run:{namespace}:{run}"


def run_labels(agent: str, run: str) -> dict[str, str]:
    """The labels of every object of one run."""
    return {MANAGED_BY_LABEL: MANAGED_BY, AGENT_LABEL: agent, RUN_LABEL: run}


def _meta(name: str, namespace: str | None, agent: str, run: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": run_labels(agent, run)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def key_secret(agent: str, run: str, namespace: str, key: str) -> dict[str, Any]:
    """The per-run Secret with the provider key (``KEY_SECRET_KEY``)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(key_secret_name(run), namespace, agent, run),
        "type": "Opaque",
        "stringData": {KEY_SECRET_KEY: key},
    }


def _rule(group: str, resource: str, verbs: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    return {
        "apiGroups": [group],
        "resources": [resource],
        "verbs": list(verbs),
        "resourceNames": sorted(names),
    }


def run_access(
    agent: str, environment: str, run: str, namespace: str, configmaps: Sequence[str]
) -> list[dict[str, Any]]:
    """The ClusterRole ``RUN_READER``, then the run's Role, RoleBinding, ClusterRoleBinding."""
    account = service_account_name(agent)
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    rules = [
        _rule(API_GROUP, "agentruns", ["get"], [run]),
        _rule(API_GROUP, "agentruns/status", ["get", "patch", "update"], [run]),
        _rule(API_GROUP, "infraagents", ["get"], [agent]),
        _rule(API_GROUP, "agentenvironments", ["get"], [environment]),
        _rule("", "serviceaccounts", ["impersonate"], [account]),
    ]
    if configmaps:
        rules.append(_rule("", "configmaps", ["get"], configmaps))
    reader = {
        "apiVersion": f"{_RBAC_API}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": RUN_READER, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        "rules": [
            {"apiGroups": [API_GROUP], "resources": ["modeltierconfigs"], "verbs": ["get", "list"]}
        ],
    }
    return [
        reader,
        {
            "apiVersion": f"{_RBAC_API}/v1",
            "kind": "Role",
            "metadata": _meta(run, namespace, agent, run),
            "rules": rules,
        },
        _binding("RoleBinding", _meta(run, namespace, agent, run), "Role", run, subject),
        _binding(
            "ClusterRoleBinding",
            _meta(cluster_binding_name(namespace, run), None, agent, run),
            "ClusterRole",
            RUN_READER,
            subject,
        ),
    ]


def _binding(
    kind: str, meta: dict[str, Any], role_kind: str, role: str, subject: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": f"{_RBAC_API}/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": _RBAC_API, "kind": role_kind, "name": role},
        "subjects": [subject],
    }


def run_job(
    agent: str,
    run: str,
    namespace: str,
    settings: JobSettings,
    *,
    timeout_seconds: int,
    key_variable: str | None,
    suspend: bool = False,
) -> dict[str, Any]:
    """The Job that executes AgentRun ``namespace/run`` (see the module docstring).

    ``suspend``: created suspended, so what it needs (its key Secret, its access) can be
    created owned by it before its pod may start.
    """
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(run, namespace, agent, run),
        "spec": {
            "suspend": suspend,
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_seconds + settings.deadline_margin_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {
                "metadata": {"labels": run_labels(agent, run)},
                "spec": _pod_spec(
                    agent, settings, _container(run, namespace, settings, key_variable)
                ),
            },
        },
    }


def _container(
    run: str, namespace: str, settings: JobSettings, key_variable: str | None
) -> dict[str, Any]:
    env = []
    if key_variable is not None:
        ref = {"name": key_secret_name(run), "key": KEY_SECRET_KEY}
        env.append({"name": key_variable, "valueFrom": {"secretKeyRef": ref}})
    return {
        "name": "run",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(settings.command),
        "args": ["run", "--agent-run", run, "--namespace", namespace],
        "env": env,
        "resources": {"requests": dict(settings.requests), "limits": dict(settings.limits)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }


def _pod_spec(agent: str, settings: JobSettings, container: dict[str, Any]) -> dict[str, Any]:
    return {
        "serviceAccountName": service_account_name(agent),
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
