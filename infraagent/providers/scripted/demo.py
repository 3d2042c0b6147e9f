"""Demo conversations for the scripted model: one plausible run of any agent.

``demo_script(agent, sheets, environment)`` writes the ``Script`` the scripted server plays
when the first command runs the example fleet without an API key. The conversation is
built from what the agent may do:

1. one turn of one or two reads: ``kubectl get`` in a namespace of its environment (the
   resource its mutation concerns, else pods) and, when its Action Sheets declare one it
   is permitted, an HTTP GET (else an MCP tool) of a read action, its URL made concrete
   from the sheet's glob (an endpoint's ``healthPath`` where the glob leaves the path open);
2. when the agent is permitted a mutating action, one turn calling it (the highest tier
   first): the guardrails allow it or turn it into a proposal, depending on the agent's
   autonomy, which is what the demo shows;
3. a final report whose last fenced JSON block holds the findings (the format the runtime
   extracts), saying plainly that a scripted model wrote it.

Every call is checked with the guardrail engine first (``judge``, empty cooldowns) and
only calls it would not deny are written; the turns fit ``maxIterations``. Nothing here
depends on the model name, so the script plays for any tier. It does no I/O and does not
run the script (the server does).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from infraagent.guardrails.policy import Policy, build_policy
from infraagent.guardrails.verdict import CooldownState
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import Decision
from infraagent.models.environment import AgentEnvironment
from infraagent.models.skill import Action, ActionSheet, ActionTier, KubeMatcher
from infraagent.providers.scripted.script import Script, ScriptToolCall, ScriptTurn
from infraagent.tools.judge import judge
from infraagent.tools.names import HTTP_TOOL, KUBECTL_TOOL, mcp_tool_name

_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)  # cooldowns are empty: time decides nothing
_TIER_RANK: Final = {
    ActionTier.READ: 0,
    ActionTier.SERVICE_MUTATION: 1,
    ActionTier.DESTRUCTIVE_MUTATION: 2,
}
_NEXT_SEGMENT: Final = {
    "repos": "example-org",
    "example-org": "fleet",
    "commits": "main",
    "stages": "staging",
    "uid": "platform-overview",
}
_QUERY: Final = {
    "query": "?query=up",
    "alerts": "?active=true",
    "issues": "?state=open",
    "runs": "?per_page=5",
}
_HTTP_BODIES: Final[Mapping[str, Mapping[str, Any]]] = {
    "sync": {"prune": False},
    "labels": {"labels": ["needs-triage"]},
    "comments": {"body": "This looks like a duplicate; see the linked issue."},
    "promote": {"freight": "latest-verified"},
    "backup": {"reason": "scheduled configuration backup"},
}
_ROLLOUT: Final = ("deployments", "statefulsets", "daemonsets")
_PATTERN: Final = re.compile(r"[*?\[]")
_READ: Final = (Decision.ALLOW,)
_ACTED: Final = (Decision.ALLOW, Decision.PROPOSE)
_LOOK: Final = "Starting with a look at the current state."
_ACT: Final = "One thing needs attention; using the action my skill declares for it."


@dataclass(frozen=True)
class _Call:
    """One tool call of the demo and how it reads in the report."""

    tool: str
    input: Mapping[str, Any]
    summary: str
    action: str | None = None
    decision: Decision = Decision.ALLOW
    resource: Mapping[str, str] | None = None
    mutating: bool = False


def demo_script(
    agent: InfraAgent,
    sheets: Mapping[str, ActionSheet],
    environment: AgentEnvironment | None,
) -> Script:
    """The scripted conversation of one demo run of ``agent`` (see the module docstring)."""
    policy = build_policy(agent, environment, sheets)
    actions = _permitted(agent, sheets, policy)
    mutation = _mutation(actions, environment, policy)
    namespace = mutation.resource["namespace"] if mutation and mutation.resource else None
    namespace = namespace or _namespace(environment)
    reads = _reads(actions, environment, policy, namespace, mutation)
    batches = [(_LOOK, reads), (_ACT, [mutation] if mutation else [])]
    turns = _turns([b for b in batches if b[1]], agent.spec.guardrails.maxIterations - 1)
    report = _report(agent, [*reads, *([mutation] if mutation else [])])
    return Script(turns=(*turns, ScriptTurn(text=report)))


def _permitted(
    agent: InfraAgent, sheets: Mapping[str, ActionSheet], policy: Policy
) -> list[tuple[str, Action]]:
    """``(qualified id, action)`` the agent's lists permit, in skill and sheet order."""
    return [
        (f"{ref.name}/{action.id}", action)
        for ref in agent.spec.skills
        for action in (sheets[ref.name].actions if ref.name in sheets else [])
        if policy.agent_permits(f"{ref.name}/{action.id}")
    ]


def _turns(batches: list[tuple[str, list[_Call]]], room: int) -> list[ScriptTurn]:
    """One turn per batch, merged when ``room`` (iterations before the report) is short."""
    if room <= 0:
        return []
    while len(batches) > room:
        (text, calls), (more, others) = batches[0], batches[1]
        batches = [(f"{text} {more}", calls + others), *batches[2:]]
    return [
        ScriptTurn(
            text=text,
            tool_calls=tuple(ScriptToolCall(name=c.tool, input=dict(c.input)) for c in calls),
        )
        for text, calls in batches
    ]


# --------------------------------------------------------------------------- checking


def _first_passing(
    candidates: Iterable[_Call], policy: Policy, accept: tuple[Decision, ...] = _READ
) -> _Call | None:
    for call in candidates:
        decision = judge(call.tool, call.input, policy, CooldownState(), _EPOCH).decision
        if decision in accept:
            return dataclasses.replace(call, decision=decision)
    return None


# --------------------------------------------------------------------------- reads


def _namespace(environment: AgentEnvironment | None) -> str:
    spaces = environment.spec.namespaces if environment else None
    if spaces is None:
        return "default"
    groups = [spaces.apps, spaces.monitoring, *spaces.additional.values(), spaces.system]
    return next((group[0] for group in groups if group), "default")


def _reads(
    actions: list[tuple[str, Action]],
    environment: AgentEnvironment | None,
    policy: Policy,
    namespace: str,
    mutation: _Call | None,
) -> list[_Call]:
    kind = mutation.resource["kind"] if mutation and mutation.resource else "pods"
    kube = _first_passing([_kubectl_get(kind, namespace)], policy)
    declared = [(q, a) for q, a in actions if a.tier is ActionTier.READ]
    candidates = (
        call
        for qualified, action in _http_first(declared)
        for call in _read_calls(qualified, action, environment, namespace)
    )
    declared_read = _first_passing(candidates, policy)
    if declared_read is None and kube is not None and kind == "pods":
        declared_read = _first_passing([_kubectl_get("nodes", None)], policy)
    return [c for c in (kube, declared_read) if c is not None]


def _http_first(actions: list[tuple[str, Action]]) -> list[tuple[str, Action]]:
    return sorted(actions, key=lambda item: item[1].http is None)


def _kubectl_get(resource: str, namespace: str | None) -> _Call:
    where = f" -n {namespace}" if namespace else ""
    command = f"get {resource}{where}"
    return _Call(KUBECTL_TOOL, {"command": command}, f"read: kubectl {command}")


def _read_calls(
    qualified: str, action: Action, environment: AgentEnvironment | None, namespace: str
) -> Iterator[_Call]:
    if action.http is not None:
        method = "GET" if "GET" in action.http.methods or "*" in action.http.methods else "HEAD"
        health = _health_paths(environment)
        for glob in _own_endpoints_first(action.http.urls, health):
            url = concrete_url(glob, namespace, health)
            yield _Call(
                HTTP_TOOL, {"method": method, "url": url}, f"read: {method} {url}", qualified
            )
    if action.mcp is not None:
        for tool in action.mcp.tools:
            if not _PATTERN.search(tool):
                name = mcp_tool_name(action.mcp.server, tool)
                yield _Call(name, {}, f"read: MCP {action.mcp.server}/{tool}", qualified)


def _health_paths(environment: AgentEnvironment | None) -> dict[str, str]:
    """Each endpoint's origin (``scheme://host[:port]/``) → its health path."""
    if environment is None:
        return {}
    return {
        f"{str(e.url).rstrip('/')}/": e.healthPath.lstrip("/")
        for e in environment.spec.endpoints.values()
        if e.healthPath
    }


def _own_endpoints_first(globs: Sequence[str], health: Mapping[str, str]) -> list[str]:
    """URL globs of the environment's own endpoints before the others (stable order)."""
    return sorted(globs, key=lambda glob: not any(glob.startswith(o) for o in health))


def concrete_url(glob: str, fill: str, health: Mapping[str, str]) -> str:
    """A URL the URL glob ``glob`` matches, with plausible words for its wildcards."""
    out = ""
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            chars = glob[i + 1 : end].lstrip("!^")
            out += "4" if "0-9" in chars else chars[:1]
            i = end + 1
            continue
        if char == "*":
            out += _star(out, glob[i + 1 :], fill, health)
        else:
            out += "x" if char == "?" else char
        i += 1
    return out


def _star(before: str, after: str, fill: str, health: Mapping[str, str]) -> str:
    if before.endswith("/"):
        if not after and before in health:
            return health[before]
        previous = before.rstrip("/").rsplit("/", 1)[-1]
        return _NEXT_SEGMENT.get(previous, "" if before.count("/") == 3 else fill)
    if not after:
        word = re.search(r"[a-z]+$", before)
        return _QUERY.get(word.group(0), "") if word else ""
    return "2" if before[-1:].isdigit() else ""


# --------------------------------------------------------------------------- the mutation


def _mutation(
    actions: list[tuple[str, Action]], environment: AgentEnvironment | None, policy: Policy
) -> _Call | None:
    mutating = [(q, a) for q, a in actions if a.tier is not ActionTier.READ]
    mutating.sort(key=lambda item: -_TIER_RANK[item[1].tier])  # stable: sheet order on ties
    namespace = _namespace(environment)
    candidates = (
        call
        for qualified, action in mutating
        for call in _mutation_calls(qualified, action, namespace)
    )
    return _first_passing(candidates, policy, (Decision.ALLOW, Decision.PROPOSE))


def _mutation_calls(qualified: str, action: Action, namespace: str) -> Iterator[_Call]:
    if action.kube is not None:
        yield from _kube_mutations(qualified, action.kube, namespace)
    if action.http is not None:
        for method in action.http.methods:
            if method in ("GET", "HEAD", "OPTIONS", "*"):
                continue
            for glob in action.http.urls:
                url = concrete_url(glob, namespace, {})
                body = _HTTP_BODIES.get(url.rstrip("/").rsplit("/", 1)[-1], {})
                if method == "PATCH":
                    body = {"state": "closed", "state_reason": "not_planned"}
                tool_input = {
                    "method": method,
                    "url": url,
                    "headers": {"content-type": "application/json"},
                    "body": json.dumps(body),
                }
                summary = f"mutation: {method} {url}"
                yield _Call(HTTP_TOOL, tool_input, summary, qualified, mutating=True)


def _kube_mutations(qualified: str, kube: KubeMatcher, namespace: str) -> Iterator[_Call]:
    concrete = [n for n in kube.namespaces or [] if not _PATTERN.search(n)]
    ns = namespace if namespace in concrete or not concrete else concrete[0]
    names = [n for n in kube.names if not _PATTERN.search(n)]
    for resource in kube.resources:
        plural = resource.split("/")[0].split(".")[0]
        name = names[0] if names else (f"{ns}-7c9d5b6f4d-x2kq8" if plural == "pods" else ns)
        for verb in kube.verbs:
            command = _kube_command(verb, resource, name, ns)
            if command is not None:
                target = {"kind": plural, "namespace": ns, "name": name}
                summary = f"mutation: kubectl {command}"
                tool_input = {"command": command}
                yield _Call(
                    KUBECTL_TOOL, tool_input, summary, qualified, resource=target, mutating=True
                )


def _kube_command(verb: str, resource: str, name: str, namespace: str) -> str | None:
    base, _, sub = resource.partition("/")
    where = f"-n {namespace}"
    if verb in ("patch", "*") and not sub and base.split(".")[0] in _ROLLOUT:
        return f"rollout restart {base}/{name} {where}"
    if verb in ("patch", "update", "*") and sub == "scale":
        return f"scale {base}/{name} --replicas=2 {where}"
    if verb in ("delete", "*") and not sub:
        return f"delete {base} {name} {where}"
    if verb in ("patch", "update") and not sub:
        return f"annotate {base} {name} infraagent.io/checked=demo --overwrite {where}"
    return None


# --------------------------------------------------------------------------- the report


def _report(agent: InfraAgent, calls: Sequence[_Call]) -> str:
    name = agent.metadata.name or "agent"
    lines = [
        f"## {name}: demo run",
        "",
        "A scripted demo model wrote this report (no API key was set): it shows what this "
        "agent may do, not what the cluster looks like.",
        "",
    ]
    findings: list[dict[str, Any]] = []
    for call in calls:
        what = call.summary.split(": ", 1)[1]
        if not call.mutating:
            lines.append(f"- Checked: `{what}`.")
            findings.append({"severity": "info", "message": f"Checked {what}."})
            continue
        outcome = (
            "requested; the guardrails make it a proposal for a human"
            if call.decision is Decision.PROPOSE
            else "requested; the guardrails allow it"
        )
        lines.append(f"- Action {call.action}: `{what}` ({outcome}).")
        finding: dict[str, Any] = {"severity": "warning"}
        if call.resource is not None:
            finding["resource"] = dict(call.resource)
        findings.append(finding | {"message": f"{call.action}: {what} ({outcome})."})
    if not calls:
        lines.append("- Nothing to check: the agent's skills declare no call it may make.")
    block = json.dumps({"findings": findings}, indent=2)
    return "\n".join([*lines, "", "```json", block, "```"])
