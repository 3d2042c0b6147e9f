"""The reconcile steps, in order. Each takes the ``Pass`` and returns True to go on.

A step that stops the pass sets ``Pass.outcome`` and, when the conditions must change,
``Pass.verdict`` (``report`` turns the verdict into Ready/Reconciling/Stalled). What each
step may touch is said in its docstring. Pruning has its own module (``prune``), the
status, Events and log line theirs (``report``).

Deliberately not here: scheduling, backoff timing and triggers (``loop``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Final

from pydantic import ValidationError

from infraagent.errors import GitError, KubeError, KubeNotFound
from infraagent.models.fleetsource import Verdict
from infraagent.ports import SourceProblem
from infraagent.reconciler.context import Pass, RepositorySpec
from infraagent.reconciler.desired import (
    desired_objects,
    in_sync,
    key_of,
    owner_selector,
    with_revision,
)
from infraagent.reconciler.prune import prune

Step = Callable[[Pass], bool]
_BAD_KEYS_MESSAGE: Final = (
    "the Secret's keys do not make usable Git credentials: give 'username' and 'token' "
    "(HTTPS) or 'identity' and optionally 'known_hosts' (SSH), not both"
)

LIVE_KINDS: Final = (
    ("core.infraagent.io/v1alpha1", "InfraAgent", True),
    ("core.infraagent.io/v1alpha1", "AgentEnvironment", True),
    ("core.infraagent.io/v1alpha1", "ModelTierConfig", False),
    ("v1", "ConfigMap", True),
)


def _retry(p: Pass, reason: str, message: str) -> bool:
    p.verdict = Verdict(ready=False, reason=reason, message=message, retrying=True)
    p.outcome = "failed"
    return False


def check_suspend(p: Pass) -> bool:
    """A suspended source does nothing at all. Touches no condition."""
    if p.source.model.spec.suspend:
        p.outcome = "suspended"
        return False
    return True


def resolve_repository(p: Pass) -> bool:
    """Read the Secret (if any) and reuse or build the repository.

    Touches Ready=False (``SecretNotFound``, ``SecretInvalid``) + Reconciling, with retry;
    Stalled (``InvalidSource``) when the adapter refuses the URL, ref or credentials.
    """
    spec = p.source.model.spec
    credentials: dict[str, str] | None = None
    version = ""
    if spec.secretRef is not None:
        try:
            secret = p.ports.cluster.get("v1", "Secret", spec.secretRef.name, p.source.namespace)
        except KubeNotFound:
            return _retry(p, "SecretNotFound", f"Secret {spec.secretRef.name!r} does not exist")
        except KubeError as err:
            return _retry(p, "SecretUnreadable", str(err))
        credentials = _decode(secret.get("data") or {})
        if credentials is None:
            return _retry(p, "SecretInvalid", f"Secret {spec.secretRef.name!r} is not base64")
        version = str((secret.get("metadata") or {}).get("resourceVersion", ""))
    fingerprint = (spec.url, spec.branch, spec.revision or "", version)
    if p.state.repository is None or p.state.fingerprint != fingerprint:
        try:
            p.state.repository = p.ports.repositories(
                RepositorySpec(p.source.key, spec.url, spec.branch, spec.revision, credentials)
            )
        except ValueError as err:  # the adapter refuses the URL, ref or credentials
            # A pydantic error would quote its input: the Secret's values. Never show it.
            message = _BAD_KEYS_MESSAGE if isinstance(err, ValidationError) else str(err)
            p.verdict = Verdict(ready=False, reason="InvalidSource", message=message, stalled=True)
            p.outcome = "stalled"
            return False
        p.state.fingerprint = fingerprint
    p.repository = p.state.repository
    return True


def _decode(data: dict[str, Any]) -> dict[str, str] | None:
    try:
        return {k: base64.b64decode(str(v), validate=True).decode() for k, v in data.items()}
    except (binascii.Error, UnicodeDecodeError):
        return None


def fetch(p: Pass) -> bool:
    """Ask the remote for the ref's commit; stop when nothing changed (no fetch, no write).

    Nothing changed: the same revision was attempted and applied, the spec generation was
    observed, and no retry is pending. Touches Ready=False (the ``GitError`` reason) +
    Reconciling on a failure.
    """
    assert p.repository is not None
    try:
        p.revision = p.repository.remote_revision()
    except GitError as err:
        return _retry(p, err.reason, str(err))
    prev = p.previous
    if (
        p.revision == prev.lastAttemptedRevision == prev.lastAppliedRevision
        and prev.observedGeneration == p.source.generation
        and not p.state.retry
    ):
        p.outcome = "unchanged"
        return False
    return True


def checkout(p: Pass) -> bool:
    """Fetch and check out the new revision. Touches Ready=False + Reconciling on a failure."""
    assert p.repository is not None and p.revision is not None
    try:
        p.snapshot = p.repository.checkout(p.revision)
    except GitError as err:
        return _retry(p, err.reason, str(err))
    return True


def load(p: Pass) -> bool:
    """Load and validate the snapshot's paths, file by file. Touches no condition."""
    assert p.snapshot is not None
    p.loaded = p.ports.loader.load(p.snapshot.root, tuple(p.source.model.spec.paths))
    for file in p.loaded.files:
        if not file.ok:
            p.problems.extend(file.problems)
            p.failed_files.add(file.file)
    for skill in p.loaded.skills:
        if not skill.ok:
            p.problems.extend(skill.problems)
            p.failed_files.add(skill.folder)
    return True


def build(p: Pass) -> bool:
    """The desired objects, and the live objects this source owns (None after a list error).

    Touches no condition: a list error only blocks pruning and the revision-keeping.
    """
    assert p.loaded is not None
    source = p.source
    p.desired = desired_objects(p.loaded, source.name, source.namespace, source.target_namespace)
    live: dict[Any, dict[str, Any]] = {}
    selector = owner_selector(source.name, source.namespace)
    try:
        for api_version, kind, namespaced in LIVE_KINDS:
            ns = source.target_namespace if namespaced else None
            listing = p.ports.cluster.list(api_version, kind, ns, label_selector=selector)
            live.update((key_of(obj), obj) for obj in listing.items)
    except KubeError as err:
        p.prune_note = f"pruning skipped: listing owned objects failed ({err})"
        return True
    p.live = live
    return True


def apply(p: Pass) -> bool:
    """Apply each desired object, skipping no-ops; a failure is a problem of its file.

    With the owned objects listed, an object already in sync costs no request at all, and a
    new one a single apply; otherwise ``apply_with_outcome`` compares a dry run with the live
    object and writes only on a difference. Touches no condition (``report`` derives them
    from the problems).
    """
    assert p.revision is not None
    for desired in p.desired:
        live = p.live.get(desired.key) if p.live is not None else None
        body = with_revision(desired, p.revision, live)
        try:
            outcome = _apply_one(p, body, live)
        except KubeError as err:
            p.apply_failed.add(desired.key)
            p.failed_files.add(desired.file)
            p.problems.append(SourceProblem(desired.file, desired.line, str(err)))
            continue
        p.applied[desired.key] = desired
        if outcome != "unchanged":
            p.written += 1
    return True


def _apply_one(p: Pass, body: dict[str, Any], live: dict[str, Any] | None) -> str:
    if in_sync(body, live):
        return "unchanged"
    if p.live is not None and live is None:
        p.ports.cluster.apply(body)
        return "created"
    return p.ports.cluster.apply_with_outcome(body)[1]


STEPS: Final[tuple[Step, ...]] = (
    check_suspend,
    resolve_repository,
    fetch,
    checkout,
    load,
    build,
    apply,
    prune,
)
"""The pass, in order; ``report`` always runs after it."""
