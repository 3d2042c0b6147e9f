"""``infraagent run AGENT_FILE``: run one agent once, locally, and show every step.

    infraagent run AGENT_FILE [--environment FILE] [--skills DIR] [--model-tiers FILE]
                   [--llm scripted:SCRIPT | tier] [--output FILE]
    infraagent run --agent-run NAME --namespace NS [--kubeconfig FILE]

``--llm scripted:SCRIPT`` serves the model from a local scripted server (no API key,
no network); the default ``tier`` uses the agent's tier from ``--model-tiers`` with a
key from the environment (``settings``). Without a cluster, allowed tool calls are judged
and recorded but not executed. The AgentRun is written as YAML (``--output`` or stdout
after the report). Exit 0 when the run succeeded, 1 when it ended otherwise, 2 on usage
errors.

``--agent-run NAME --namespace NS`` executes an AgentRun that already exists on the cluster
(the command of a ``runner: job`` Job's pod, see ``cli.run_cluster``), as the identity of
the kubeconfig or, without one, the pod's ServiceAccount.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from infraagent.cli.common import SystemClock, load_agent_or_report
from infraagent.cli.run_cluster import run_agent_run
from infraagent.errors import UsageError
from infraagent.loading.bundle import AgentBundle
from infraagent.loading.fleet import Source, load
from infraagent.models import InfraAgent, ModelTierConfig
from infraagent.models.agentrun import AgentRun, LedgerEntry, RunPhase
from infraagent.models.modeltier import AuthType, Provider, ProviderAuthSpec, TierMapping
from infraagent.providers import ProviderConfig, config_for_tier, make_provider
from infraagent.providers.scripted import ScriptedServer, load_script
from infraagent.redaction import Redactor
from infraagent.runtime.assemble import agent_input, run_settings
from infraagent.runtime.loop import RunPorts, run_agent
from infraagent.runtime.offline import OfflineExecutor
from infraagent.runtime.record import run_status
from infraagent.settings import Settings


def register(commands: Any) -> None:
    """Add the ``run`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "run", help="run one agent once, locally", description=__doc__
    )
    parser.add_argument("agent", type=Path, metavar="AGENT_FILE", nargs="?")
    parser.add_argument("--environment", type=Path, help="an AgentEnvironment YAML file")
    parser.add_argument("--skills", type=Path, default=Path("skills"), help="skills directory")
    parser.add_argument("--model-tiers", type=Path, help="a ModelTierConfig YAML file")
    parser.add_argument("--llm", default="tier", help="'scripted:SCRIPT' or 'tier' (default)")
    parser.add_argument("--output", type=Path, help="write the AgentRun YAML here")
    parser.add_argument("--agent-run", metavar="NAME", help="execute this AgentRun on the cluster")
    parser.add_argument("--namespace", help="the AgentRun's namespace (with --agent-run)")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig (with --agent-run)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, run, show, record (or, with ``--agent-run``, execute an AgentRun)."""
    if args.agent_run or args.agent is None:
        if not (args.agent_run and args.namespace) or args.agent is not None:
            print(
                "infraagent run: give AGENT_FILE, or --agent-run and --namespace", file=sys.stderr
            )
            return 2
        return run_agent_run(args)
    bundle = load_agent_or_report(args.agent, args.environment, args.skills)
    if bundle is None or bundle.agent is None:
        return 2
    try:
        tiers = _tier(bundle.agent, args.model_tiers)
        with ExitStack() as stack:
            config = _provider_config(args.llm, tiers, stack, Settings.from_environ(os.environ))
            return _run(bundle, tiers[0], config, args.output)
    except UsageError as error:
        print(f"infraagent run: {error}", file=sys.stderr)
        return 2


def _tier(
    agent: InfraAgent, path: Path | None
) -> tuple[TierMapping | None, ProviderAuthSpec | None]:
    """The agent's tier mapping and the config's default auth (None, None without a file)."""
    if path is None:
        return None, None
    fleet, diagnostics = load([Source.from_argument(str(path))])
    configs = [d.model for d in fleet.definitions if isinstance(d.model, ModelTierConfig)]
    if diagnostics or len(configs) != 1:
        raise UsageError(f"{path} does not hold exactly one valid ModelTierConfig")
    spec = configs[0].spec
    return spec.tier(agent.spec.model.tier), spec.defaultAuth


def _provider_config(
    llm: str,
    tiers: tuple[TierMapping | None, ProviderAuthSpec | None],
    stack: ExitStack,
    settings: Settings,
) -> ProviderConfig:
    tier, default_auth = tiers
    if llm.startswith("scripted:"):
        server = stack.enter_context(ScriptedServer(load_script(llm.removeprefix("scripted:"))))
        model = tier.model if tier else "scripted"
        return ProviderConfig(Provider.ANTHROPIC, model, endpoint=server.url, timeout_seconds=30)
    if llm != "tier":
        raise UsageError(f"--llm takes 'scripted:SCRIPT' or 'tier', not {llm!r}")
    if tier is None:
        raise UsageError("--model-tiers must map the agent's tier to use a real model")
    auth = tier.auth or default_auth
    key = settings.llm_api_keys.get(tier.provider.value)
    if auth is not None and auth.type is AuthType.API_KEY and key is None:
        raise UsageError(f"no API key for {tier.provider.value} in the environment")
    secret = {auth.secretKey: key} if auth is not None and key is not None else {}
    return config_for_tier(tier, default_auth, secret)


def _run(
    bundle: AgentBundle, tier: TierMapping | None, config: ProviderConfig, output: Path | None
) -> int:
    agent = bundle.agent
    assert agent is not None
    inputs = agent_input(agent, bundle.environment, bundle.sheets, bundle.instructions)
    redactor = Redactor.with_values(config.secrets())
    ports = RunPorts(make_provider(config), OfflineExecutor(), redactor, SystemClock(), _show)
    print(
        f"{agent.spec.emoji or '🤖'} {agent.metadata.name}: {config.provider.value}/{config.model}"
    )
    result = run_agent(inputs, run_settings(agent, tier, config.model), ports)
    status = run_status(result, tier)
    print(
        f"\n== {status.phase.value if status.phase else '?'} ({status.reason})\n{status.report}\n"
    )
    record = _agent_run(agent, f"{config.provider.value}/{config.model}").model_copy(
        update={"status": status}
    )
    text = yaml.safe_dump(
        record.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True
    )
    if output:
        output.write_text(text, encoding="utf-8")
        print(f"AgentRun written to {output}")
    else:
        print(text)
    return 0 if status.phase in (RunPhase.SUCCEEDED, RunPhase.ESCALATED) else 1


def _agent_run(agent: InfraAgent, model: str) -> AgentRun:
    return AgentRun.model_validate(
        {
            "apiVersion": "core.infraagent.io/v1alpha1",
            "kind": "AgentRun",
            "metadata": {
                "generateName": f"{agent.metadata.name}-",
                "namespace": agent.metadata.namespace,
            },
            "spec": {
                "agentRef": agent.metadata.name,
                "environmentRef": agent.spec.environmentRef,
                "trigger": "manual",
                "modelUsed": model,
                "autonomy": agent.spec.guardrails.autonomy,
            },
        }
    )


def _show(entry: LedgerEntry) -> None:
    what = "; ".join(entry.requests) or entry.tool
    tier = entry.tier.value if entry.tier else "-"
    print(f"  [{entry.seq}] {entry.decision.value:7} {tier:20} {what}  ({entry.rule})")
