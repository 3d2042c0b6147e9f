"""``infraagent install``: print (``--export``) or apply everything a cluster needs.

``--export`` prints the manifests of ``infraagent.install`` as multi-document YAML and
touches nothing. Without it the manifests are applied in order with server-side apply,
writing only what would change, and each object is reported as ``created``, ``configured``
or ``unchanged``. A cluster is only contacted when ``--kubeconfig``, ``--context`` or
``KUBECONFIG`` says which one: never the default kubeconfig by surprise.
Exit status: 0 done, 1 the cluster refused or could not be reached, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.errors import KubeError
from infraagent.install import DEFAULT_IMAGE, DEFAULT_NAMESPACE, install_manifests
from infraagent.settings import Settings


def register(commands: Any) -> None:
    """Add the ``install`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "install", help="print (--export) or apply the CRDs, RBAC, admission policy and operator"
    )
    parser.add_argument("--export", action="store_true", help="print the YAML; apply nothing")
    parser.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help=f"operator namespace ({DEFAULT_NAMESPACE})"
    )
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="operator image")
    parser.add_argument(
        "--secret-namespace",
        action="append",
        default=[],
        metavar="NS",
        help="a namespace whose Secrets the operator may read by name (FleetSource "
        "credentials, model keys, agent webhook secrets); repeatable",
    )
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export or apply the manifests; the exit status."""
    try:
        manifests = install_manifests(
            namespace=args.namespace, image=args.image, secret_namespaces=args.secret_namespace
        )
    except ValueError as err:
        print(f"infraagent install: {err}", file=sys.stderr)
        return 2
    if args.export:
        sys.stdout.write(yaml.safe_dump_all(manifests, sort_keys=False, width=100))
        return 0
    kubeconfig: Path | None = args.kubeconfig or Settings.from_environ(os.environ).kubeconfig
    if kubeconfig is None and args.context is None:
        print(
            "infraagent install: no cluster given: pass --kubeconfig or --context, set "
            "KUBECONFIG, or use --export to print the manifests",
            file=sys.stderr,
        )
        return 2
    try:
        with KubeClient.from_kubeconfig(kubeconfig, args.context) as kube:
            for manifest in manifests:
                _, outcome = kube.apply_with_outcome(manifest)
                print(f"{outcome} {manifest['kind']}/{manifest['metadata']['name']}")
    except KubeError as err:
        print(f"infraagent install: {err}", file=sys.stderr)
        return 1
    return 0
