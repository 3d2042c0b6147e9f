"""Runs on the cluster, wired: the composition root of ``operator.execute``.

- ``execute_deps``: the real Kubernetes client, providers built from the resolved tier, tool
  calls executed as the agent (``KubeToolExecutor``, impersonating
  ``system:serviceaccount:<ns>:infraagent-agent-<agent>``), the Secret read through the
  cluster (the operator) or the key taken from the environment (a Job's pod: ``settings``),
  ``git://`` skills fetched with the git adapter (``GitSkillFetcher``).
- ``cluster_launcher``: the operator's ``RunLauncher``: runs in this process (bounded) or as
  Jobs, as each agent's ``spec.runner`` says.
- ``run_agent_run``: ``infraagent run --agent-run NAME --namespace NS [--kubeconfig F]``, the
  command of a run's Job. Without ``--kubeconfig`` (and no ``KUBECONFIG``) it uses the pod's
  in-cluster ServiceAccount. Exit 0 when the run succeeded (or escalated), 1 when it ended
  otherwise, 2 when the cluster cannot be reached.

It deliberately holds no logic of its own: everything is in ``operator.execute``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

from infraagent.adapters.git import GitFleetRepository
from infraagent.adapters.kube.client import KubeClient
from infraagent.adapters.kube.executor import KubeToolExecutor, MapperCache
from infraagent.admission import agent_username
from infraagent.cli.common import SystemClock
from infraagent.errors import KubeError, UsageError
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import RunPhase
from infraagent.models.keys import SKILL_MD_KEY, SKILL_SHEET_KEY
from infraagent.models.modeltier import ProviderAuthSpec, TierMapping
from infraagent.models.skillref import ParsedSource
from infraagent.operator.execute import ExecuteDeps, execute_agent_run, execute_run
from infraagent.operator.jobs import JobLauncher, RunnerSwitch
from infraagent.operator.run_inputs import RunInputError, RunInputs, SecretReader
from infraagent.operator.run_job import JobSettings
from infraagent.operator.run_pool import InProcessLauncher
from infraagent.ports import Clock, ModelProvider, ToolExecutor
from infraagent.providers import ProviderConfig, config_for_tier, make_provider
from infraagent.settings import Settings


class GitSkillFetcher:
    """Fetches ``git://`` skills: the folder's ``SKILL.md`` and ``actions.yaml`` at its ref.

    One cached ``GitFleetRepository`` per repository and ref under ``workdir``; each fetch
    asks the remote for the ref's commit and fetches only what is missing. ``url_for`` turns
    a source into its clone URL (default: ``https://<host>/<org>/<repo>``).
    """

    def __init__(self, workdir: Path, url_for: Callable[[ParsedSource], str] | None = None) -> None:
        self._workdir = workdir
        self._url_for = url_for or (lambda source: source.clone_url or "")
        self._repos: dict[tuple[str, str], GitFleetRepository] = {}
        self._lock = threading.Lock()

    def __call__(self, source: ParsedSource) -> Mapping[str, str]:
        url, ref = self._url_for(source), source.ref or "HEAD"
        with self._lock:
            repo = self._repos.get((url, ref))
            if repo is None:
                folder = self._workdir / hashlib.sha256(f"{url}@{ref}".encode()).hexdigest()[:16]
                repo = self._repos[url, ref] = GitFleetRepository(url, ref, folder)
        root = repo.checkout(repo.remote_revision()).root
        folder = root / source.path if source.path else root
        if not (folder / SKILL_MD_KEY).is_file():
            raise UsageError(f"{source.path or 'the repository root'} holds no {SKILL_MD_KEY}")
        return {
            name: (folder / name).read_text(encoding="utf-8")
            for name in (SKILL_MD_KEY, SKILL_SHEET_KEY)
            if (folder / name).is_file()
        }


def key_from_environment(settings: Settings) -> SecretReader:
    """A ``SecretReader`` for a Job's pod: the tier's key from the process environment."""

    def read(tier: TierMapping, auth: ProviderAuthSpec) -> Mapping[str, str]:
        key = settings.llm_api_keys.get(tier.provider.value)
        if key is None:
            message = f"no API key for {tier.provider.value} in the pod's environment"
            raise RunInputError("SecretKeyMissing", message)
        return {auth.secretKey: key}

    return read


class ProviderCache:
    """Providers reused across runs: one SDK client per distinct configuration.

    A new client per run costs tens of milliseconds of CPU (TLS set-up) and a connection
    pool of memory; the providers keep no state between calls, and the SDK clients are
    safe to share between threads. Bounded: the oldest configuration goes first.
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._providers: OrderedDict[tuple[object, ...], ModelProvider] = OrderedDict()

    def __call__(self, config: ProviderConfig) -> ModelProvider:
        key = (
            config.provider,
            config.model,
            config.endpoint,
            config.api_key,
            tuple(sorted(config.headers.items())),
            config.timeout_seconds,
            config.max_retries,
        )
        with self._lock:
            if key in self._providers:
                self._providers.move_to_end(key)
                return self._providers[key]
            provider = make_provider(config)
            self._providers[key] = provider
            while len(self._providers) > self._size:
                self._providers.popitem(last=False)
            return provider


def execute_deps(
    client: KubeClient,
    clock: Clock,
    *,
    read_secret: SecretReader | None = None,
    fetch_git: GitSkillFetcher | None = None,
) -> ExecuteDeps:
    """Everything ``execute_run`` / ``execute_agent_run`` need, on ``client``."""

    providers = ProviderCache()

    def model_for(inputs: RunInputs) -> ModelProvider:
        return providers(config_for_tier(inputs.tier, inputs.default_auth, inputs.secret))

    mappers = MapperCache(client)  # one discovery for every run, not one per run

    def executor_for(agent: InfraAgent) -> ToolExecutor:
        username = agent_username(agent.metadata.namespace or "", agent.metadata.name or "")
        return KubeToolExecutor(client, username, clock=clock, mappers=mappers)

    return ExecuteDeps(
        client, clock, model_for, executor_for, read_secret=read_secret, fetch_git=fetch_git
    )


def cluster_launcher(
    client: KubeClient,
    clock: Clock,
    *,
    concurrency: int,
    job_settings: JobSettings,
    workdir: Path,
) -> RunnerSwitch:
    """In-process runs (at most ``concurrency`` at once) and Job runs, git skills under
    ``workdir``; the operator reads the tiers' Secrets itself."""
    fetcher = GitSkillFetcher(workdir)
    deps = execute_deps(client, clock, fetch_git=fetcher)
    inprocess = InProcessLauncher(
        lambda request, started: execute_run(request, deps, started), concurrency
    )
    jobs = JobLauncher(client, clock, job_settings, fetch_git=fetcher)
    return RunnerSwitch(client, inprocess, jobs)


def run_agent_run(args: argparse.Namespace) -> int:
    """Execute the AgentRun ``args.agent_run`` in ``args.namespace``; the exit status."""
    settings = Settings.from_environ(os.environ)
    kubeconfig: Path | None = args.kubeconfig or settings.kubeconfig
    try:
        client = KubeClient.from_kubeconfig(kubeconfig) if kubeconfig else KubeClient.in_cluster()
    except KubeError as err:
        print(f"infraagent run: {err}", file=sys.stderr)
        return 2
    with client, tempfile.TemporaryDirectory(prefix="infraagent-skills-") as workdir:
        deps = execute_deps(
            client,
            SystemClock(),
            read_secret=key_from_environment(settings),
            fetch_git=GitSkillFetcher(Path(workdir)),
        )
        outcome = execute_agent_run(args.agent_run, args.namespace, deps)
    print(f"AgentRun {args.namespace}/{outcome.run_name}: {outcome.phase}")
    return 0 if outcome.phase in (RunPhase.SUCCEEDED.value, RunPhase.ESCALATED.value) else 1
