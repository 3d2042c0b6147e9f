"""Where run summaries go: one runs branch per fleet repository.

``Publishing.publish`` runs one summaries cycle (``operator.summaries.publish_summaries``)
per target and reports what it did:

- an implicit source (``--repo``, or this folder): its repository's ``--runs-branch``, for
  the runs of the agents in its namespace;
- the FleetSources on the cluster: each source's own repository and ``spec.runsBranch``,
  with the credentials of its ``secretRef``, for the runs of its target namespace.

Publishers are kept per (URL, branch, Secret version), so their clones are reused across
cycles and rebuilt when the credentials change. A target that fails is reported and retried
at the next cycle; the others go on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from infraagent.adapters.git import GitRunsPublisher
from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.kube import KubeClient
from infraagent.cli.fleet import secret_keys
from infraagent.errors import GitError, KubeError
from infraagent.models.common import GROUP_VERSION
from infraagent.models.fleetsource import FleetSource
from infraagent.operator.summaries import PublishResult, publish_summaries
from infraagent.ports import Clock
from infraagent.redaction import Redactor


@dataclass(frozen=True)
class Target:
    """One runs branch and the namespaces whose runs it receives."""

    url: str
    branch: str
    namespaces: tuple[str, ...]
    credentials: GitCredentials | None = None
    version: str = ""


@dataclass
class Publishing:
    """Summaries cycles for every target (see the module docstring)."""

    kube: KubeClient
    clock: Clock
    workdir: Path
    implicit: Target | None
    _publishers: dict[tuple[str, str, str], GitRunsPublisher] = field(default_factory=dict)

    def targets(self) -> list[Target]:
        """The implicit target, or one per FleetSource on the cluster."""
        if self.implicit is not None:
            return [self.implicit]
        found = []
        for obj in self.kube.list(GROUP_VERSION, "FleetSource").items:
            target = self._target(obj)
            if target is not None:
                found.append(target)
        return found

    def publish(self, redactor: Redactor) -> list[tuple[Target, PublishResult | str]]:
        """One cycle per target: its result, or why it failed."""
        outcomes: list[tuple[Target, PublishResult | str]] = []
        try:
            targets = self.targets()
        except KubeError as err:
            return [(Target("", "", ()), f"listing FleetSources failed: {err}")]
        for target in targets:
            try:
                result = publish_summaries(
                    self.kube,
                    self._publisher(target),
                    list(target.namespaces),
                    self.clock.now(),
                    redactor=redactor,
                )
            except (GitError, KubeError, ValueError) as err:
                outcomes.append((target, str(err)))
                continue
            outcomes.append((target, result))
        return outcomes

    def _publisher(self, target: Target) -> GitRunsPublisher:
        key = (target.url, target.branch, target.version)
        if key not in self._publishers:
            digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:12]
            folder = re.sub(r"[^a-z0-9.-]+", "-", target.branch.lower())
            self._publishers[key] = GitRunsPublisher(
                target.url,
                workdir=self.workdir / f"{folder}-{digest}",
                branch=target.branch,
                credentials=target.credentials,
            )
        return self._publishers[key]

    def _target(self, obj: Mapping[str, Any]) -> Target | None:
        try:
            source = FleetSource.model_validate(obj)
        except ValidationError:
            return None  # the reconciler reports it Stalled
        spec, namespace = source.spec, source.metadata.namespace or "default"
        if spec.suspend:
            return None
        credentials, version = None, ""
        if spec.secretRef is not None:
            try:
                secret = self.kube.get("v1", "Secret", spec.secretRef.name, namespace)
            except KubeError:
                return None  # the reconciler reports the missing Secret
            credentials = _credentials(secret.get("data") or {})
            version = str((secret.get("metadata") or {}).get("resourceVersion", ""))
        target_namespace = spec.targetNamespace or namespace
        return Target(spec.url, spec.runsBranch, (target_namespace,), credentials, version)


def _credentials(data: Mapping[str, Any]) -> GitCredentials | None:
    try:
        decoded = {k: base64.b64decode(str(v), validate=True).decode() for k, v in data.items()}
        return GitCredentials.from_secret_data(secret_keys(decoded))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def summary_lines(outcomes: list[tuple[Target, PublishResult | str]]) -> list[str]:
    """One line per target that did something or failed."""
    lines = []
    for target, outcome in outcomes:
        if isinstance(outcome, str):
            lines.append(
                f"run summaries for {target.url or 'FleetSources'} not committed: {outcome}"
            )
        elif outcome.commit:
            lines.append(
                f"run summaries: {len(outcome.published)} committed to {target.branch} "
                f"({outcome.commit[:12]})"
            )
    return lines
