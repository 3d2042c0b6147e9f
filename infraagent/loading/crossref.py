"""Cross-reference checks over everything one invocation loaded.

- an agent's ``environmentRef`` names a loaded AgentEnvironment (same namespace, where
  both give one), and its escalation ``channelName`` is a channel of that environment;
- its ``repo`` skills exist in ``skills/`` (configmap:// and git:// sources are only
  checked for syntax, by the model);
- its model tier is mapped by a ModelTierConfig;
- its ``allowedActions`` / ``deniedActions`` globs match a declared action ``<skill>/<id>``
  (a warning otherwise);
- no two objects of one kind share a namespace and name.

A check runs only over what was loaded: when validating a single agent file, an unknown
environment is reported only if at least one environment was loaded (otherwise the
environment may simply live elsewhere), a tier only if a ModelTierConfig was loaded, and a
missing skill only if a fleet root or a skill folder was loaded. Checks also use the sound
parts of documents that failed schema validation, so one run reports every problem; a part
that already has a schema error is not checked again.

This module does no I/O: it reads the ``Fleet`` that ``fleet.load`` built.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

from infraagent.loading.documents import Definition, diagnostic
from infraagent.loading.fleet import Fleet
from infraagent.loading.yamlpos import Path
from infraagent.models import (
    CLUSTER_SCOPED,
    Diagnostic,
    DiagnosticSeverity,
    ModelTier,
    parse_skill_source,
)

_TIERS: Final = frozenset(t.value for t in ModelTier)
_WILDCARDS: Final = frozenset("*?[")
_ID_CHARACTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-/*?")


@dataclass(frozen=True)
class _Environment:
    name: str
    namespace: str | None
    channels: frozenset[str] | None


def check(fleet: Fleet) -> list[Diagnostic]:
    """Every cross-reference problem of ``fleet``."""
    environments = [_environment(d) for d in _of_kind(fleet, "AgentEnvironment")]
    tiers = _mapped_tiers(fleet)
    diagnostics = list(_duplicates(fleet.definitions))
    for agent in _of_kind(fleet, "InfraAgent"):
        diagnostics.extend(_check_environment(agent, environments))
        diagnostics.extend(_check_tier(agent, tiers))
        diagnostics.extend(_check_skills(agent, fleet))
        diagnostics.extend(_check_globs(agent, fleet))
    return diagnostics


def _of_kind(fleet: Fleet, kind: str) -> Iterator[Definition]:
    return (d for d in fleet.definitions if d.kind == kind)


def _environment(definition: Definition) -> _Environment:
    channels = definition.raw(("spec", "channels"))
    spec = definition.raw(("spec",))
    known: frozenset[str] | None = None
    if isinstance(channels, dict):
        known = frozenset(str(key) for key in channels)
    elif isinstance(spec, dict) and "channels" not in spec:
        known = frozenset()
    return _Environment(
        name=definition.text(("metadata", "name")) or "",
        namespace=definition.text(("metadata", "namespace")),
        channels=known,
    )


def _mapped_tiers(fleet: Fleet) -> frozenset[str] | None:
    """Tiers the loaded ModelTierConfigs map; None when there is none or one is unreadable."""
    configs = list(_of_kind(fleet, "ModelTierConfig"))
    if not configs:
        return None
    mapped: set[str] = set()
    for config in configs:
        tiers = config.raw(("spec", "tiers"))
        if not isinstance(tiers, list):
            return None
        mapped.update(
            t["tier"] for t in tiers if isinstance(t, dict) and isinstance(t.get("tier"), str)
        )
    return frozenset(mapped)


def _same_namespace(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _check_environment(agent: Definition, environments: list[_Environment]) -> Iterator[Diagnostic]:
    path: Path = ("spec", "environmentRef")
    ref = agent.text(path)
    if not environments or ref is None:
        return
    namespace = agent.text(("metadata", "namespace"))
    matches = [e for e in environments if e.name == ref and _same_namespace(e.namespace, namespace)]
    if not matches:
        names = sorted({e.name for e in environments if e.name})
        message = (
            f"environment {ref!r} is not defined; the loaded environments are {_listing(names)}"
        )
        yield _error(agent, path, message + _did_you_mean(ref, names), "unknown-environment")
        return
    channel_path: Path = ("spec", "guardrails", "escalation", "channelName")
    channel = agent.text(channel_path)
    if channel is None or any(e.channels is None or channel in e.channels for e in matches):
        return
    channels = sorted({c for e in matches for c in e.channels or ()})
    message = (
        f"escalation channel {channel!r} is not a channel of environment {ref!r} "
        f"(its channels: {_listing(channels)})"
    )
    yield _error(agent, channel_path, message + _did_you_mean(channel, channels), "unknown-channel")


def _check_tier(agent: Definition, mapped: frozenset[str] | None) -> Iterator[Diagnostic]:
    model = agent.raw(("spec", "model"))
    if mapped is None or not isinstance(model, dict):
        return
    path: Path = ("spec", "model", "tier")
    tier = agent.text(path) if "tier" in model else ModelTier.STANDARD.value
    if tier is None or tier not in _TIERS or tier in mapped:
        return
    default = "" if "tier" in model else " (the default)"
    message = (
        f"model tier {tier!r}{default} is not mapped by any ModelTierConfig "
        f"(mapped tiers: {_listing(sorted(mapped))})"
    )
    where = path if "tier" in model else ("spec", "model")
    yield _error(agent, where, message, "unknown-model-tier")


@dataclass(frozen=True)
class _Ref:
    index: int
    name: str
    kind: str | None  # repo, configmap, git; None when the source is invalid
    name_usable: bool


def _skill_refs(agent: Definition) -> Iterator[_Ref]:
    skills = agent.raw(("spec", "skills"))
    if not isinstance(skills, list):
        return
    for index, item in enumerate(skills):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        source = item.get("source", "repo")
        try:
            kind: str | None = parse_skill_source(source).kind if isinstance(source, str) else None
        except ValueError:
            kind = None
        usable = agent.usable(("spec", "skills", index, "name"))
        yield _Ref(index, item["name"], kind, usable)


def _check_skills(agent: Definition, fleet: Fleet) -> Iterator[Diagnostic]:
    if not fleet.skills_scanned:
        return
    for ref in _skill_refs(agent):
        if ref.kind != "repo" or not ref.name_usable or ref.name in fleet.skills:
            continue
        message = (
            f"skill {ref.name!r} does not exist: there is no folder skills/{ref.name}/ "
            "with a SKILL.md"
        )
        hint = _did_you_mean(ref.name, sorted(fleet.skills))
        yield _error(agent, ("spec", "skills", ref.index, "name"), message + hint, "missing-skill")


def _action_universe(agent: Definition, fleet: Fleet) -> tuple[set[str], set[str]]:
    """The agent's declared qualified action ids, and the skills whose actions are unknown.

    Only a loaded repo skill with a valid Action Sheet has known actions; any other skill
    (configmap or git source, a sheet that failed validation, a missing folder, an invalid
    source) might declare anything, so globs that may concern it are not judged.
    """
    known: set[str] = set()
    unknown: set[str] = set()
    for ref in _skill_refs(agent):
        skill = fleet.skills.get(ref.name) if ref.kind == "repo" else None
        if skill is not None and skill.action_ids is not None:
            known.update(f"{ref.name}/{action}" for action in skill.action_ids)
        else:
            unknown.add(ref.name)
    return known, unknown


def _can_match_an_id(pattern: str) -> bool:
    """Whether ``pattern`` can match some '<skill>/<id>' (two DNS labels and one '/')."""
    literal = ""
    depth = 0
    for char in pattern:
        if char == "[" and not depth:
            depth = 1
        elif char == "]" and depth:
            depth = 0
        elif not depth:
            literal += char
    if any(c not in _ID_CHARACTERS for c in literal) or literal.count("/") > 1:
        return False
    return "/" in literal or bool(_WILDCARDS & set(pattern))


def _may_concern(pattern: str, skill: str) -> bool:
    """Whether ``pattern`` could match an action of ``skill`` (qualified ids hold one '/')."""
    if "/" in pattern:
        return fnmatchcase(skill, pattern.split("/", 1)[0])
    return bool(_WILDCARDS & set(pattern))


def _check_globs(agent: Definition, fleet: Fleet) -> Iterator[Diagnostic]:
    known, unknown = _action_universe(agent, fleet)
    for field in ("allowedActions", "deniedActions"):
        globs = agent.raw(("spec", "guardrails", field))
        if not isinstance(globs, list):
            continue
        for index, pattern in enumerate(globs):
            path: Path = ("spec", "guardrails", field, index)
            if not isinstance(pattern, str) or not agent.usable(path):
                continue
            if not _can_match_an_id(pattern):
                yield _warning(agent, path, _never_message(field, pattern))
            elif any(fnmatchcase(q, pattern) for q in known):
                continue
            elif not any(_may_concern(pattern, skill) for skill in unknown):
                yield _warning(agent, path, _unmatched_message(field, pattern, known))


def _never_message(field: str, pattern: str) -> str:
    message = (
        f"{field} glob {pattern!r} can never match: globs match qualified action ids "
        "'<skill>/<id>' (lower-case letters, digits, '-' and one '/')"
    )
    if " " in pattern or "." in pattern:
        message += "; the original's globs over tool names and targets no longer apply"
    return message


def _unmatched_message(field: str, pattern: str, known: set[str]) -> str:
    message = f"{field} glob {pattern!r} matches no action declared by this agent's skills"
    if not known:
        return message + " (they declare no actions)"
    shown = sorted(known)
    more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
    return message + f" (declared: {', '.join(shown[:5])}{more})"


def _duplicates(definitions: Iterable[Definition]) -> Iterator[Diagnostic]:
    first: dict[tuple[str, str, str], Definition] = {}
    path: Path = ("metadata", "name")
    for definition in definitions:
        name = definition.text(path)
        if name is None:
            continue
        cluster = definition.kind in CLUSTER_SCOPED
        namespace = "" if cluster else definition.text(("metadata", "namespace")) or ""
        key = (definition.kind, namespace, name)
        earlier = first.setdefault(key, definition)
        if earlier is definition:
            continue
        line = earlier.doc.value_mark(path)[0]
        where = f" in namespace {namespace!r}" if namespace else ""
        message = (
            f"{definition.kind} {name!r}{where} is defined twice (first in {earlier.file}:{line})"
        )
        yield _error(definition, path, message, "duplicate-name")


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _error(definition: Definition, path: Path, message: str, code: str) -> Diagnostic:
    return diagnostic(definition.file, definition.doc.value_mark(path), message, code, path)


def _warning(definition: Definition, path: Path, message: str) -> Diagnostic:
    mark = definition.doc.value_mark(path)
    warning = DiagnosticSeverity.WARNING
    return diagnostic(
        definition.file, mark, message, "unmatched-action-glob", path, severity=warning
    )
