"""Runs on the cluster, wired: the composition root of ``operator.execute``.

- ``execute_deps``: the real Kubernetes client, providers built from the resolved tier, tool
  calls executed as the agent (``KubeToolExecutor``, impersonating
  ``system:serviceaccount:<ns>:infraagent-agent-<agent>``), the Secret read through the
  cluster (the operator) or the key taken from the environment (a Job's pod: ``settings``).
- ``run_agent_run``: ``infraagent run --agent-run NAME --namespace NS [--kubeconfig F]``, the
  command of a run's Job. Without ``--kubeconfig`` (and no ``KUBECONFIG``) it uses the pod's
  in-cluster ServiceAccount. Exit 0 when the run succeeded (or escalated), 1 when it ended
  otherwise, 2 when the cluster cannot be reached.

It deliberately holds no logic of its own: everything is in ``operator.execute``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from infraagent.adapters.kube.client import KubeClient
from infraagent.adapters.kube.executor import KubeToolExecutor
from infraagent.admission import agent_username
from infraagent.errors import KubeError
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import RunPhase
from infraagent.models.modeltier import ProviderAuthSpec, TierMapping
from infraagent.operator.execute import ExecuteDeps, execute_agent_run
from infraagent.operator.run_inputs import RunInputError, RunInputs, SecretReader
from infraagent.ports import Clock, ModelProvider, ToolExecutor
from infraagent.providers import config_for_tier, make_provider
from infraagent.settings import Settings


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def key_from_environment(settings: Settings) -> SecretReader:
    """A ``SecretReader`` for a Job's pod: the tier's key from the process environment."""

    def read(tier: TierMapping, auth: ProviderAuthSpec) -> Mapping[str, str]:
        key = settings.llm_api_keys.get(tier.provider.value)
        if key is None:
            message = f"no API key for {tier.provider.value} in the pod's environment"
            raise RunInputError("SecretKeyMissing", message)
        return {auth.secretKey: key}

    return read


def execute_deps(
    client: KubeClient, clock: Clock, *, read_secret: SecretReader | None = None
) -> ExecuteDeps:
    """Everything ``execute_run`` / ``execute_agent_run`` need, on ``client``."""

    def model_for(inputs: RunInputs) -> ModelProvider:
        return make_provider(config_for_tier(inputs.tier, inputs.default_auth, inputs.secret))

    def executor_for(agent: InfraAgent) -> ToolExecutor:
        username = agent_username(agent.metadata.namespace or "", agent.metadata.name or "")
        return KubeToolExecutor(client, username, clock=clock)

    return ExecuteDeps(client, clock, model_for, executor_for, read_secret=read_secret)


def run_agent_run(args: argparse.Namespace) -> int:
    """Execute the AgentRun ``args.agent_run`` in ``args.namespace``; the exit status."""
    settings = Settings.from_environ(os.environ)
    kubeconfig: Path | None = args.kubeconfig or settings.kubeconfig
    try:
        client = KubeClient.from_kubeconfig(kubeconfig) if kubeconfig else KubeClient.in_cluster()
    except KubeError as err:
        print(f"infraagent run: {err}", file=sys.stderr)
        return 2
    with client:
        deps = execute_deps(client, SystemClock(), read_secret=key_from_environment(settings))
        outcome = execute_agent_run(args.agent_run, args.namespace, deps)
    print(f"AgentRun {args.namespace}/{outcome.run_name}: {outcome.phase}")
    return 0 if outcome.phase in (RunPhase.SUCCEEDED.value, RunPhase.ESCALATED.value) else 1
