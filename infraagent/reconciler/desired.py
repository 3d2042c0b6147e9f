"""The objects a snapshot asks for: definitions and skill ConfigMaps, labelled and annotated.

``desired_objects`` turns a ``LoadedSnapshot`` into ``Desired`` objects: InfraAgents and
AgentEnvironments in the target namespace, ModelTierConfigs cluster-scoped, one ConfigMap
per valid skill (``skill_configmap_name``; keys ``SKILL.md`` and ``actions.yaml``). Every
object carries the owner labels (source name and namespace, managed-by) and the
annotations source path, content digest and source revision.

Keeping no-op applies no-ops: the revision annotation would change on every commit and
turn every apply into a write. So each object also carries a digest of its content
*without* the revision; ``with_revision`` stamps the new revision only when the live
object's digest differs, and otherwise keeps the live object's revision annotation, so an
unchanged object stays byte-for-byte what the server holds and the apply is skipped.

Pure: no I/O.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from infraagent.models import CLUSTER_SCOPED
from infraagent.models.keys import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SKILL_LABEL,
    SKILL_MD_KEY,
    SKILL_SHEET_KEY,
    SOURCE_NAME_LABEL,
    SOURCE_NAMESPACE_LABEL,
    SOURCE_PATH_ANNOTATION,
    SOURCE_REVISION_ANNOTATION,
    skill_configmap_name,
)
from infraagent.ports import LoadedSnapshot, SourceDefinition, SourceSkill

SOURCE_DIGEST_ANNOTATION: Final = "infraagent.io/source-digest"
"""sha256 (16 hex digits) of an applied object's content without its revision annotation."""

APPLY_ORDER: Final = ("ModelTierConfig", "AgentEnvironment", "ConfigMap", "InfraAgent")


@dataclass(frozen=True)
class Key:
    """Where an object lives: apiVersion, kind, namespace (None: cluster) and name."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Desired:
    """One object to apply, the file (and line) it comes from, and its content digest."""

    key: Key
    body: Mapping[str, Any]
    file: str
    line: int
    digest: str


def owner_selector(name: str, namespace: str) -> str:
    """The label selector of every object a source applied."""
    return f"{SOURCE_NAME_LABEL}={name},{SOURCE_NAMESPACE_LABEL}={namespace}"


def owned_by(obj: Mapping[str, Any], name: str, namespace: str) -> bool:
    """Whether the owner labels of ``obj`` point at source ``namespace/name``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(
        labels.get(SOURCE_NAME_LABEL) == name and labels.get(SOURCE_NAMESPACE_LABEL) == namespace
    )


def desired_objects(
    snapshot: LoadedSnapshot, source: str, source_namespace: str, target_namespace: str
) -> list[Desired]:
    """Every object the clean files and valid skills of ``snapshot`` ask for, in apply order."""
    owner = {
        SOURCE_NAME_LABEL: source,
        SOURCE_NAMESPACE_LABEL: source_namespace,
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    out = [
        _from_definition(d, owner, target_namespace)
        for f in snapshot.files
        if f.ok
        for d in f.definitions
    ]
    out.extend(_from_skill(s, owner, target_namespace) for s in snapshot.skills if s.ok)
    return sorted(out, key=lambda d: (APPLY_ORDER.index(d.key.kind), d.key.name))


def _from_definition(
    definition: SourceDefinition, owner: Mapping[str, str], target_namespace: str
) -> Desired:
    body = copy.deepcopy(dict(definition.body))
    namespace = None if definition.kind in CLUSTER_SCOPED else target_namespace
    meta = dict(body.get("metadata") or {})
    meta.pop("namespace", None)
    if namespace is not None:
        meta["namespace"] = namespace
    body["metadata"] = meta
    key = Key(definition.api_version, definition.kind, namespace, definition.name)
    return _finish(key, body, owner, definition.file, definition.line)


def _from_skill(skill: SourceSkill, owner: Mapping[str, str], namespace: str) -> Desired:
    data = {SKILL_MD_KEY: skill.skill_md}
    if skill.actions_yaml is not None:
        data[SKILL_SHEET_KEY] = skill.actions_yaml
    name = skill_configmap_name(skill.name)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {SKILL_LABEL: skill.name}},
        "data": data,
    }
    return _finish(Key("v1", "ConfigMap", namespace, name), body, owner, skill.folder, 1)


def _finish(
    key: Key, body: dict[str, Any], owner: Mapping[str, str], file: str, line: int
) -> Desired:
    meta = body["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), **owner}
    meta["annotations"] = {**(meta.get("annotations") or {}), SOURCE_PATH_ANNOTATION: file}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    meta["annotations"][SOURCE_DIGEST_ANNOTATION] = digest
    return Desired(key=key, body=body, file=file, line=line, digest=digest)


def with_revision(
    desired: Desired, revision: str, live: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The body to apply: ``revision`` stamped, unless ``live`` already has this content.

    When the live object's digest equals the desired one, its revision annotation is kept,
    so applying an unchanged object is a no-op even though the repository moved on.
    """
    body = copy.deepcopy(dict(desired.body))
    annotations = body["metadata"]["annotations"]
    live_annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    same = live_annotations.get(SOURCE_DIGEST_ANNOTATION) == desired.digest
    kept = live_annotations.get(SOURCE_REVISION_ANNOTATION) if same else None
    annotations[SOURCE_REVISION_ANNOTATION] = kept or revision
    return body


def in_sync(body: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Whether ``live`` already holds ``body``: same digest, and every field of ``body`` as is.

    The digest catches fields removed from the definition; the field-by-field check catches
    drift (someone edited or removed a field on the cluster). Extra fields on ``live`` (server
    defaults, other managers' fields) do not matter. When this says True, applying ``body``
    would change nothing, so the reconciler sends nothing at all.
    """
    if live is None:
        return False
    annotations = ((live.get("metadata") or {}).get("annotations")) or {}
    wanted = body["metadata"]["annotations"].get(SOURCE_DIGEST_ANNOTATION)
    return annotations.get(SOURCE_DIGEST_ANNOTATION) == wanted and _subset(body, live)


def _subset(want: Any, have: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and _subset(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have and type(want) is type(have))


def key_of(obj: Mapping[str, Any]) -> Key:
    """The key of a live object (as a list returns it)."""
    meta = obj.get("metadata") or {}
    api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
    return Key(api_version, kind, meta.get("namespace"), str(meta.get("name")))
