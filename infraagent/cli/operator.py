"""``infraagent operator``: one operator replica, serving the FleetSources of its cluster.

The same process as ``infraagent reconcile`` without ``--repo`` or ``--once``: it competes
for the ``infraagent-operator`` Lease in ``--namespace`` and, while it leads, reconciles the
cluster's FleetSources, gives agents their identities, runs them on their schedules and
commits their summaries. SIGTERM or SIGINT stops it cleanly: it stops taking runs, records
the runs it still has open as Interrupted, releases the Lease and exits 0.

Only a cluster named with ``--kubeconfig``, ``--context`` or ``--in-cluster`` is used.
Exit status: 0 stopped cleanly, 1 the cluster could not be used, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infraagent.cli import reconcile
from infraagent.install import DEFAULT_IMAGE, DEFAULT_NAMESPACE, METRICS_PORT

_PROG = "infraagent operator"


def register(commands: Any) -> None:
    """Add the ``operator`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "operator", help="run an operator replica on the cluster's FleetSources (a Lease leads)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--in-cluster", action="store_true", help="the pod's ServiceAccount")
    parser.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help=f"operator namespace ({DEFAULT_NAMESPACE})"
    )
    parser.add_argument("--identity", help="this replica's unique name (default: host + random)")
    parser.add_argument("--concurrency", type=int, default=10, help="runs at once (10)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="image of run Jobs")
    parser.add_argument("--webhook-port", type=int, help="serve webhooks on this port")
    parser.add_argument("--metrics-port", type=int, default=METRICS_PORT, help="-1: off")
    reconcile.add_lease_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve as one replica until SIGTERM or SIGINT; the exit status."""
    if args.kubeconfig is None and args.context is None and not args.in_cluster:
        print(
            f"{_PROG}: no cluster given: pass --kubeconfig, --context or --in-cluster",
            file=sys.stderr,
        )
        return 2
    main_job = argparse.Namespace(
        repo=None, branch=None, revision=None, name=None, namespace=None, workdir=None,
        kubeconfig=args.kubeconfig, context=args.context, in_cluster=args.in_cluster,
        once=False, apply_only=False, llm="auto", concurrency=args.concurrency,
        runs_branch="infraagent/runs", operator_namespace=args.namespace, image=args.image,
        webhook_port=args.webhook_port, webhook_host="0.0.0.0", metrics_port=args.metrics_port,  # noqa: S104
        identity=args.identity, lease_duration=args.lease_duration,
        renew_every=args.renew_every, resync_every=args.resync_every,
    )  # fmt: skip
    return reconcile.run(main_job)
