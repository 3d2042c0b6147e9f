"""The guardrail engine: judge canonical requests, deterministically and failing closed.

Order, first failure decides: resolve → tier → self-protection and HTTP safety → data
protection → Action Sheet permission → the agent's allow/deny lists → cooldown →
autonomy. A call with several requests gets the strictest verdict of them, and an
ambiguous resource name is judged under every meaning it could have. The engine is pure:
no I/O, the time is passed in, and any exception inside it becomes a deny.

Parsing tool calls into canonical requests is not done here (see ``infraagent.tools``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from infraagent.guardrails.bodies import BodyFacts, facts_of
from infraagent.guardrails.http_rules import http_data_rule, http_safety
from infraagent.guardrails.kube_rules import (
    Classification,
    classify,
    is_read,
    self_protection,
    workload_refusal,
)
from infraagent.guardrails.policy import CompiledAction, Policy, ceiling_covers
from infraagent.guardrails.restmapper import ResourceInfo
from infraagent.guardrails.verdict import CooldownState, Verdict, deny, strictest
from infraagent.models.agent import Autonomy
from infraagent.models.agentrun import Decision, Tier
from infraagent.models.requests import CanonicalRequest, HttpRequest, KubeRequest, McpCall

_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_SERVICE_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_NO_FACTS: Final = BodyFacts()
_AUTONOMY_WORDS: Final = {
    Autonomy.OBSERVE: "observe (read only)",
    Autonomy.RECOMMEND: "recommend (mutations are proposed to a human)",
    Autonomy.AUTOMATE_SAFE: "automate-safe (destructive mutations are proposed to a human)",
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    """One request under judgement with what the engine learned about it."""

    request: CanonicalRequest
    tier: Tier | None
    namespaced: bool = True


def evaluate(
    requests: Sequence[CanonicalRequest], policy: Policy, state: CooldownState, now: datetime
) -> Verdict:
    """Judge the canonical requests of one tool call."""
    try:
        if not requests:
            return deny("parse/syntax", "the call does not contain any request")
        verdicts = [v for request in requests for v in _judge(request, policy, state, now)]
        worst = strictest(verdicts)
        return Verdict(
            worst.decision,
            worst.tier,
            worst.rule,
            worst.reason,
            worst.action,
            tuple(requests),
            worst.escalate,
        )
    except Exception as exc:
        return deny("engine/internal-error", f"the guardrails could not judge this call ({exc!r})")


def _judge(
    request: CanonicalRequest, policy: Policy, state: CooldownState, now: datetime
) -> list[Verdict]:
    if isinstance(request, KubeRequest):
        return _judge_kube(request, policy, state, now)
    if isinstance(request, HttpRequest):
        return [_judge_http(request, policy, state, now)]
    return [_judge_mcp(request, policy, state, now)]


# --------------------------------------------------------------------------- kubernetes


def _judge_kube(
    request: KubeRequest, policy: Policy, state: CooldownState, now: datetime
) -> list[Verdict]:
    verdicts = [
        _judge_resolved(resolved, info, policy, state, now)
        for resolved, info in policy.mapper.resolve_scoped(request)
    ]
    if verdicts:
        return verdicts
    if is_read(request):
        return [Verdict(Decision.ALLOW, Tier.READ, "allow/read", f"{request.summary()}: a read")]
    return [
        deny(
            "resolve/unknown-resource",
            f"{request.summary()}: {request.resource!r} is not a resource the guardrails "
            "know, so a mutation of it cannot be judged",
        )
    ]


def _judge_resolved(
    request: KubeRequest, info: ResourceInfo, policy: Policy, state: CooldownState, now: datetime
) -> Verdict:
    read = is_read(request)
    facts = (
        _NO_FACTS if read or request.body is None else facts_of(request.body, request.patch_type)
    )
    found = classify(request, facts, info.namespaced)
    if not read and found.tier is not Tier.DATA_MUTATION:
        found = _declared_data(request, policy) or found
    refusal = self_protection(request, policy.operator_namespace) or workload_refusal(
        request, facts
    )
    if refusal is not None:
        return deny(*refusal, tier=found.tier, escalate=found.tier is Tier.DATA_MUTATION)
    if found.tier is Tier.DATA_MUTATION:
        rule = found.rule or "data-protection/declared-resource"
        return deny(rule, _escalated(found.reason), Tier.DATA_MUTATION, escalate=True)
    if facts.opaque:
        reason = f"{request.summary()}: JSON patch move and copy hide the value they write"
        return deny("parse/bad-patch", reason, found.tier)
    return _permission(_Target(request, found.tier, info.namespaced), policy, state, now)


def _declared_data(request: KubeRequest, policy: Policy) -> Classification | None:
    """A mutation of an object the environment declares as data (or of a collection holding it).

    A declared kind the REST mapper does not know protects that namespace and name
    whatever the kind of the request: failing closed.
    """
    key = (request.group or "", request.resource)
    for data in policy.data_resources:
        if data.group_resources and key not in data.group_resources:
            continue
        in_scope = request.all_namespaces or request.namespace in (data.namespace, None)
        if in_scope and request.name in (data.name, None):
            return Classification(
                Tier.DATA_MUTATION,
                "data-protection/declared-resource",
                f"{request.summary()}: the environment declares {data.kind} "
                f"{data.namespace}/{data.name} as data that agents never mutate",
            )
    return None


def _escalated(reason: str) -> str:
    return f"{reason}. Data mutations are never automated; this has been escalated to a human."


# -------------------------------------------------------------------------------- http


def _http_tier(method: str) -> Tier:
    if method in _READ_METHODS:
        return Tier.READ
    if method in _SERVICE_METHODS:
        return Tier.SERVICE_MUTATION
    return Tier.DESTRUCTIVE_MUTATION


def _judge_http(
    request: HttpRequest, policy: Policy, state: CooldownState, now: datetime
) -> Verdict:
    tier = _http_tier(request.method)
    refusal = http_safety(request, policy.http)
    if refusal is not None:
        return deny(*refusal, tier=tier)
    data = http_data_rule(request, policy.http)
    if data is not None:
        return deny(data[0], _escalated(data[1]), Tier.DATA_MUTATION, escalate=True)
    return _permission(_Target(request, tier), policy, state, now)


def _judge_mcp(request: McpCall, policy: Policy, state: CooldownState, now: datetime) -> Verdict:
    """MCP tools have no effect the engine can compute: the matching action's tier is used."""
    matched = list(policy.permitting(request, True))
    if not matched:
        return deny(
            "sheet/undeclared", f"{request.summary()}: no action of the agent's skills declares it"
        )
    permitted = [a for a in matched if policy.agent_permits(a.qualified_id)]
    if not permitted:
        return _list_refusal(matched[0], policy, request.summary(), matched[0].tier)
    return _finish(permitted[0], _Target(request, permitted[0].tier), policy, state, now)


# ------------------------------------------------------------- sheets, lists, autonomy


def _permission(target: _Target, policy: Policy, state: CooldownState, now: datetime) -> Verdict:
    request, tier = target.request, target.tier or Tier.DESTRUCTIVE_MUTATION
    what = request.summary()
    matched = list(policy.permitting(request, target.namespaced))
    covering = [a for a in matched if ceiling_covers(a, tier)]
    permitted = [a for a in covering if policy.agent_permits(a.qualified_id)]
    if permitted:
        return _finish(permitted[0], target, policy, state, now)
    if tier is Tier.READ and isinstance(request, KubeRequest):
        if (request.group, request.resource) != ("", "secrets"):
            return Verdict(Decision.ALLOW, Tier.READ, "allow/read", f"{what}: a read")
        if not covering:
            return deny(
                "sheet/secret-read", f"{what}: reading Secrets needs a declared action", tier
            )
    if covering:
        return _list_refusal(covering[0], policy, what, tier)
    if matched:
        return deny(
            "sheet/tier-ceiling",
            f"{what} is a {tier.value}, above the ceiling {matched[0].tier.value} of "
            f"action {matched[0].qualified_id}",
            tier,
        )
    return deny("sheet/undeclared", f"{what}: no action of the agent's skills declares it", tier)


def _list_refusal(action: CompiledAction, policy: Policy, what: str, tier: Tier) -> Verdict:
    if policy.denied.matches(action.qualified_id):
        rule, why = "agent/denied-action", "the agent's deniedActions exclude"
    else:
        rule, why = "agent/not-allowed", "the agent's allowedActions do not include"
    return deny(rule, f"{what}: {why} action {action.qualified_id}", tier)


def _finish(
    action: CompiledAction, target: _Target, policy: Policy, state: CooldownState, now: datetime
) -> Verdict:
    tier = target.tier or action.tier
    what = target.request.summary()
    last = state.last_used.get(action.qualified_id)
    if action.cooldown and last is not None and now - last < action.cooldown:
        ready = last + action.cooldown
        reason = f"{what}: action {action.qualified_id} is cooling down until {ready.isoformat()}"
        return Verdict(Decision.DENY, tier, "cooldown/active", reason, action.qualified_id)
    decision, rule = _autonomy(tier, policy.autonomy)
    if decision is Decision.ALLOW:
        reason = f"{what}: permitted by action {action.qualified_id}"
    else:
        reason = f"{what} is a {tier.value}; at autonomy {_AUTONOMY_WORDS[policy.autonomy]} " + (
            "it is not allowed" if decision is Decision.DENY else "it becomes a proposal"
        )
    return Verdict(decision, tier, rule, reason, action.qualified_id)


def _autonomy(tier: Tier, autonomy: Autonomy) -> tuple[Decision, str]:
    if tier is Tier.READ or autonomy is Autonomy.AUTOMATE_DESTRUCTIVE:
        return Decision.ALLOW, "allow/action"
    if autonomy is Autonomy.OBSERVE:
        return Decision.DENY, "autonomy/observe"
    if autonomy is Autonomy.RECOMMEND:
        return Decision.PROPOSE, "autonomy/recommend"
    if tier is Tier.SERVICE_MUTATION:
        return Decision.ALLOW, "allow/action"
    return Decision.PROPOSE, "autonomy/automate-safe"
