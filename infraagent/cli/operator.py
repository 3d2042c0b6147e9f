"""``infraagent operator``: run an operator replica: compete for the Lease, lead, stop cleanly.

The composition root for the operator process: it wires the Kubernetes adapter (two
``KubeClient``s, one for the Lease and one for the leader's work, so a slow cluster call
never delays a renewal) to the adapter-free duties of ``infraagent.operator.process``.
The Lease ``infraagent-operator`` lives in ``--namespace`` (``infraagent install`` creates
that namespace; this command never does).

One line per transition goes to stderr with the identity: ``leading``, ``stopped leading``,
``released``. SIGTERM or SIGINT stops the replica: it stops taking work, records the runs it
still has open, releases the Lease, and exits 0. The elector runs in a worker thread; the
main thread only waits and handles the signals (a handler that set the stop event while the
main thread itself sat inside that event's lock would deadlock). As with ``install``, a
cluster is contacted only when ``--kubeconfig``, ``--context`` or ``KUBECONFIG`` names one.
Exit status: 0 stopped cleanly, 1 the cluster could not be used or the Lease not released,
2 usage error.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.lease import LeaderElector
from infraagent.errors import KubeError
from infraagent.install import DEFAULT_NAMESPACE
from infraagent.operator.process import Leadership
from infraagent.settings import Settings

_PROG = "infraagent operator"


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def register(commands: Any) -> None:
    """Add the ``operator`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "operator", help="run an operator replica (leader election on a Lease)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help=f"Lease namespace ({DEFAULT_NAMESPACE})"
    )
    parser.add_argument("--identity", help="this replica's unique name (default: host + random)")
    parser.add_argument("--lease-duration", type=int, default=15, help="seconds (15)")
    parser.add_argument("--renew-every", type=float, default=5.0, help="seconds (5)")
    parser.add_argument(
        "--resync-every", type=float, default=30.0, help="seconds between policy checks (30)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compete for the Lease until SIGTERM or SIGINT; the exit status."""
    kubeconfig: Path | None = args.kubeconfig or Settings.from_environ(os.environ).kubeconfig
    if kubeconfig is None and args.context is None:
        print(f"{_PROG}: no cluster given: pass --kubeconfig or --context", file=sys.stderr)
        return 2
    identity: str = args.identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    say = _reporter(identity)
    try:
        with ExitStack() as stack:
            lease_kube = stack.enter_context(KubeClient.from_kubeconfig(kubeconfig, args.context))
            work_kube = stack.enter_context(KubeClient.from_kubeconfig(kubeconfig, args.context))
            elector = _elector(args, lease_kube, identity)
            leadership = Leadership(
                work_kube, _SystemClock(), timedelta(seconds=args.resync_every), say
            )
            return _serve(lambda stop: _elect(elector, leadership, stop, say))
    except ValueError as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 2
    except KubeError as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 1


def _reporter(identity: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"{_PROG} {identity}: {line}", file=sys.stderr, flush=True)

    return say


def _elector(args: argparse.Namespace, kube: KubeClient, identity: str) -> LeaderElector:
    if args.resync_every <= 0:
        raise ValueError("--resync-every must be positive")
    return LeaderElector(
        kube.api_client,
        args.namespace,
        identity=identity,
        lease_duration=timedelta(seconds=args.lease_duration),
        renew_every=timedelta(seconds=args.renew_every),
    )


def _serve(elect: Callable[[threading.Event], int]) -> int:
    """Run ``elect`` in a worker thread; SIGTERM and SIGINT set its stop event."""
    stop = threading.Event()
    status: list[int] = []
    worker = threading.Thread(
        target=lambda: status.append(elect(stop)), name="leader-election", daemon=True
    )
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status[0] if status else 1


def _elect(
    elector: LeaderElector,
    leadership: Leadership,
    stop: threading.Event,
    say: Callable[[str], None],
) -> int:
    """Compete and lead until ``stop``; then release the Lease if held. The exit status."""
    held_at_stop = False

    def started() -> None:
        say("leading")
        leadership.started()

    def stopped() -> None:
        nonlocal held_at_stop
        held_at_stop = stop.is_set()
        say("stopped leading")
        leadership.stopped()

    try:
        elector.run(started, stopped, stop, release_on_stop=False)
    finally:
        released = elector.release()  # also after a crash of the loop: never hold it longer
        if released:
            say("released")
    if held_at_stop and not released:
        say("the Lease could not be released: it expires on its own")
        return 1
    return 0
