"""The main job as a long-running process: one leader runs every loop, the others wait.

``serve`` competes for the ``infraagent-operator`` Lease (``adapters.kube.lease``) and, while
it leads, runs the main job's duties in threads of their own:

- ``Leadership`` (``operator.process``): on take-over, close the runs a dead leader left open
  (sparing runs a live Job still executes) and restore the admission policy; then keep it so.
- the reconciler: each source on its interval, at once on a signed push (``--webhook-port``);
- the scheduler: InfraAgents watched (``adapters.kube.watch``) and fed to the scheduling loop,
  which starts due runs only while this replica leads and is not stopping;
- housekeeping every ``HOUSEKEEPING``: identities for new or changed agents, then the
  summaries of finished runs committed in one commit.

When leadership ends (SIGTERM, SIGINT, or the Lease lost) the loops stop, the launcher is
drained (queued runs dropped, running ones waited for a while), the runs still open are
recorded Interrupted, and the Lease is released, so the next leader starts clean and no run
is executed twice. The webhook receiver answers only while leading (a follower's scheduler
is empty, so it refuses agent triggers as unknown).
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.lease import LeaderElector
from infraagent.adapters.kube.watch import Watcher
from infraagent.adapters.webhook import AgentTriggerOutcome, TriggerResult, WebhookServer
from infraagent.cli.mainjob import MainJob, Say, agents_of
from infraagent.cli.mainjob_metrics import record_publishing
from infraagent.cli.mainjob_publish import summary_lines
from infraagent.errors import InfraAgentError, KubeError
from infraagent.models.common import GROUP_VERSION
from infraagent.operator.jobs import job_alive
from infraagent.operator.process import Leadership
from infraagent.operator.scheduler import RequestResult
from infraagent.redaction import Redactor

log = logging.getLogger("infraagent.operator")
HOUSEKEEPING: Final = timedelta(seconds=30)
DRAIN_SECONDS: Final = 30.0
WEBHOOK_SECRET_KEY: Final = "token"  # noqa: S105 (a key name, not a value)


def agent_webhook_secret(agent: str) -> str:
    """The Secret (in the agent's namespace, key ``token``) that signs its webhook calls."""
    return f"infraagent-webhook-{agent}"


@dataclass
class Duties:
    """The leader's loops around ``Leadership``; ``started``/``stopped`` are the elector's."""

    job: MainJob
    leadership: Leadership
    say: Say
    _halt: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def started(self) -> None:
        self.say("leading: taking over")
        self._halt = threading.Event()
        self.job.scheduling.accepting = lambda: self.leadership.accepting
        self.leadership.started()
        for name, target in (
            ("reconciler", self._reconcile),
            ("scheduler", self._schedule),
            ("agent-watch", self._watch),
            ("housekeeping", self._housekeep),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stopped(self) -> None:
        self.say("stopped leading: draining runs")
        self._halt.set()
        self.job.reconcile.wake()
        self.job.scheduling.wake()
        for thread in self._threads:
            thread.join(10.0)
        self._threads.clear()
        still_open = self.job.launcher.drain(DRAIN_SECONDS)
        self.leadership.own_runs |= set(still_open)
        self.leadership.stopped()
        self._publish()

    def _reconcile(self) -> None:
        self.job.reconcile.serve(halt=self._halt)

    def _schedule(self) -> None:
        self.job.scheduling.run(self._halt)

    def _watch(self) -> None:
        watcher = Watcher(self.job.kube, GROUP_VERSION, "InfraAgent", poll_seconds=2.0)
        while not self._halt.is_set():
            try:
                for event in watcher.events(self._halt):
                    self.job.scheduling.feed(event.type, event.object)
            except KubeError as err:
                self.say(f"watching agents failed, retrying: {err}")
                self._halt.wait(5.0)

    def _housekeep(self) -> None:
        while not self._halt.wait(HOUSEKEEPING.total_seconds()):
            try:
                self.job.metrics.agents_known(len(agents_of(self.job)))
                self.job.identities.sync()
            except KubeError as err:
                self.say(f"identities: {err}")
            self._publish()

    def _publish(self) -> None:
        redactor = Redactor.with_values(self.job.models.known_secrets)
        outcomes = self.job.publishing.publish(redactor)
        record_publishing(self.job.metrics, outcomes)
        for line in summary_lines(outcomes):
            self.say(line)


def webhook_server(job: MainJob, port: int, host: str = "0.0.0.0") -> WebhookServer:  # noqa: S104
    """The receiver for FleetSource pushes and agent triggers, wired to the main job."""

    def secret_for(kind: str, namespace: str, name: str) -> bytes | None:
        if kind == "fleet":
            ref = _fleet_secret(job, namespace, name)
        else:
            ref = _agent_secret(job, namespace, name)
        if ref is None:
            return None
        secret_name, key = ref
        try:
            secret = job.kube.get("v1", "Secret", secret_name, namespace)
        except KubeError:
            return None
        value = (secret.get("data") or {}).get(key)
        return _b64(value) if isinstance(value, str) else None

    def on_agent(namespace: str, name: str) -> AgentTriggerOutcome | TriggerResult:
        result = job.scheduling.request_run(namespace, name, "webhook")
        if result is RequestResult.RATE_LIMITED:
            return AgentTriggerOutcome.rate_limited(job.scheduling.retry_after(namespace, name))
        return TriggerResult(result.value)

    return WebhookServer(
        secret_for=secret_for,
        on_fleet_push=job.reconcile.request_reconcile,
        on_agent_trigger=on_agent,
        host=host,
        port=port,
    )


def _fleet_secret(job: MainJob, namespace: str, name: str) -> tuple[str, str] | None:
    try:
        source = job.kube.get(GROUP_VERSION, "FleetSource", name, namespace)
    except KubeError:
        return None
    hook = (source.get("spec") or {}).get("webhook") or {}
    ref: Mapping[str, str] = hook.get("secretRef") or {}
    return (ref["name"], ref.get("key", WEBHOOK_SECRET_KEY)) if ref.get("name") else None


def _agent_secret(job: MainJob, namespace: str, name: str) -> tuple[str, str] | None:
    """The agent's webhook Secret, only for an agent that declares a ``webhook`` trigger."""
    try:
        agent = job.kube.get(GROUP_VERSION, "InfraAgent", name, namespace)
    except KubeError:
        return None
    triggers = ((agent.get("spec") or {}).get("schedule") or {}).get("triggers") or []
    if not any(t.get("type") == "webhook" for t in triggers if isinstance(t, dict)):
        return None
    return agent_webhook_secret(name), WEBHOOK_SECRET_KEY


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Lease:
    """Leader election: the Lease's duration, how often the leader renews it, and how often
    the leader's duties re-check the admission policy."""

    duration: timedelta = timedelta(seconds=15)
    renew_every: timedelta = timedelta(seconds=5)
    resync_every: timedelta = timedelta(seconds=30)


def serve(  # noqa: PLR0917 (the composition root passes what it built)
    job: MainJob,
    kube_for_lease: KubeClient,
    namespace: str,
    identity: str,
    stop: threading.Event,
    say: Say,
    lease: Lease | None = None,
) -> int:
    """Compete for the Lease and lead until ``stop``; the exit status."""
    lease = lease or Lease()
    if lease.resync_every <= timedelta(0) or lease.renew_every <= timedelta(0):
        raise ValueError("--resync-every and --renew-every must be positive")
    leadership = Leadership(
        job.kube, job.clock, lease.resync_every, say, owner_alive=job_alive(job.kube)
    )
    duties = Duties(job, leadership, say)
    elector = LeaderElector(
        kube_for_lease.api_client,
        namespace,
        identity=identity,
        lease_duration=lease.duration,
        renew_every=lease.renew_every,
    )
    try:
        elector.run(duties.started, duties.stopped, stop, release_on_stop=False)
    except InfraAgentError as err:
        say(f"leader election failed: {err}")
        return 1
    finally:
        if elector.release():
            say("released the Lease")
    return 0


def on_signal(stop: threading.Event) -> Callable[..., None]:
    """A signal handler that asks ``serve`` to stop."""
    return lambda *_: stop.set()
