"""Safe pruning: delete what this source applied and its repository no longer defines.

The rules, in the order they are checked (``plan``, pure):

1. ``spec.prune`` false: nothing is deleted.
2. Only after a clean pass: the snapshot was fetched, every file and skill parsed and
   validated, the owned objects were listed, and every apply succeeded. **Any failing file
   blocks all pruning for that pass**: a file that does not parse might hold (or now
   hold, after a move) any of the definitions that look gone, so no deletion can be
   trusted until it parses again.
3. Only objects in the source's inventory (for a source that never recorded one, the
   objects carrying its owner labels), and not desired by the snapshot.
4. Never everything: a plan that would delete every inventoried object is refused unless
   ``allowPruneToEmpty`` (an empty-looking repository is far more often a mistake).

Then, per object (``prune``, through the cluster): it is read again, and deleted only if its
owner labels still point at this source and it is not annotated
``infraagent.io/prune: disabled``; an object that is gone, or no longer ours, or opted
out, leaves the inventory. Deleting an InfraAgent leaves its AgentRuns: they carry no
ownerReference, so nothing cascades to them.

Deliberately not done: deleting a FleetSource deletes nothing (no finalizer); its objects
stay, labelled, until another source with the same name and namespace adopts them.
"""

from __future__ import annotations

from collections.abc import Iterable

from infraagent.errors import KubeError, KubeNotFound
from infraagent.models.fleetsource import InventoryEntry
from infraagent.models.keys import PRUNE_ANNOTATION, PRUNE_DISABLED
from infraagent.models.keys import SOURCE_PATH_ANNOTATION as SOURCE_PATH
from infraagent.ports import SourceProblem
from infraagent.reconciler.context import Pass
from infraagent.reconciler.desired import Key, owned_by


def entry_key(entry: InventoryEntry) -> Key:
    return Key(entry.apiVersion, entry.kind, entry.namespace, entry.name)


def inventory_keys(p: Pass) -> dict[Key, str]:
    """The inventory (key → file) this pass starts from; seeded from owned objects if none."""
    recorded = {entry_key(e): e.path for e in p.previous.inventory}
    if recorded or p.previous.lastAppliedRevision is not None or p.live is None:
        return recorded
    return {
        key: str(((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE_PATH, ""))
        for key, obj in p.live.items()
    }


def plan(
    inventory: Iterable[Key],
    desired: set[Key],
    *,
    enabled: bool,
    clean: bool,
    allow_empty: bool,
) -> tuple[list[Key], str]:
    """The keys to delete, or none and a sentence saying why pruning is held back."""
    known = set(inventory)
    gone = sorted(known - desired, key=lambda k: (k.kind, k.namespace or "", k.name))
    if not gone:
        return [], ""
    if not enabled:
        return [], f"pruning is off: {len(gone)} object(s) left in place"
    if not clean:
        return [], f"pruning skipped: this pass had errors ({len(gone)} object(s) kept)"
    if len(gone) == len(known) and not allow_empty:
        return [], (
            f"pruning refused: it would delete all {len(known)} object(s) of this source "
            "(set allowPruneToEmpty to allow it)"
        )
    return gone, ""


def prune(p: Pass) -> bool:
    """Delete the planned objects that are still ours. Touches no condition."""
    spec = p.source.model.spec
    clean = not p.failed_files and not p.apply_failed and p.live is not None
    inventory = inventory_keys(p)
    keys, note = plan(
        inventory,
        {d.key for d in p.desired},
        enabled=spec.prune,
        clean=clean,
        allow_empty=spec.allowPruneToEmpty,
    )
    if note and not p.prune_note:
        p.prune_note = note
    for key in keys:
        _delete(p, key, inventory.get(key, ""))
    return True


def _delete(p: Pass, key: Key, file: str) -> None:
    cluster = p.ports.cluster
    try:
        live = cluster.get(key.api_version, key.kind, key.name, key.namespace)
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        opted_out = annotations.get(PRUNE_ANNOTATION) == PRUNE_DISABLED
        if opted_out or not owned_by(live, p.source.name, p.source.namespace):
            p.released.add(key)
        else:
            cluster.delete(key.api_version, key.kind, key.name, key.namespace)
            p.pruned.add(key)
            p.written += 1
    except KubeNotFound:
        p.released.add(key)
    except KubeError as err:
        p.problems.append(SourceProblem(file or key.label(), 1, f"prune {key.label()}: {err}"))
