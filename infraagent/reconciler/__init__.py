"""The GitOps reconciler: from a fleet repository's revision to custom resources on the cluster.

Application layer: it reaches Git, the files and the cluster only through ports
(``FleetRepository``, ``SnapshotLoader``, ``Cluster``, ``Clock`` and an event sink), wired
by the command line (``infraagent reconcile``).

- ``reconcile_once(source, ports, state)``: one pass over one FleetSource (``reconcile``),
  made of the named ``steps`` then ``report``; ``prune`` holds the safety rules and
  ``desired`` the objects a snapshot asks for.
- ``ReconcileLoop``: polling with jitter and backoff, and ``request_reconcile`` for the
  webhook receiver (``loop``).
"""

from infraagent.reconciler.context import (
    ReconcileResult,
    ReconcilerPorts,
    RepositorySpec,
    SourceObject,
    SourceState,
)
from infraagent.reconciler.loop import ReconcileLoop, cluster_sources
from infraagent.reconciler.reconcile import implicit_source, reconcile_once, source_from_object

__all__ = [
    "ReconcileLoop",
    "ReconcileResult",
    "ReconcilerPorts",
    "RepositorySpec",
    "SourceObject",
    "SourceState",
    "cluster_sources",
    "implicit_source",
    "reconcile_once",
    "source_from_object",
]
