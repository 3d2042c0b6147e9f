"""Properties of the guardrail engine, checked with hypothesis.

- Any spelling, alias, casing, flag order or qualified name of a PVC, PV, Namespace or
  Secret delete is a data-mutation deny.
- Adding a harmless flag (``-o yaml``, ``--wait``, ``--ignore-not-found``, ``-v=2``,
  ``--request-timeout=5s``) anywhere kubectl accepts it never lowers a tier or loosens a
  decision.
- A call's verdict does not depend on the calls judged before it (for calls whose action
  has no cooldown), nor on the order of its flags: reads stay reads, mutations stay
  mutations.
"""

from __future__ import annotations

import shlex
from datetime import timedelta
from functools import cache
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from infraagent.guardrails.policy import Policy, build_policy
from infraagent.guardrails.verdict import TIER_ORDER, CooldownState, Verdict
from infraagent.loading.bundle import load_bundle
from infraagent.models.agentrun import Decision, Tier
from infraagent.models.skill import ActionSheet
from infraagent.tools.judge import judge
from tests.guardrails.support import FIXTURES, NOW, Case, corpus, describe, policy

OPERATOR_NAMESPACE: Final = "self-protection/operator-namespace"
STRICTNESS: Final = {Decision.ALLOW: 0, Decision.PROPOSE: 1, Decision.DENY: 2}

# rule -> (spellings of the resource, namespaced, object names)
DATA_DELETES: Final = {
    "data-protection/pvc-delete": (
        ("pvc", "persistentvolumeclaim", "persistentvolumeclaims"),
        True,
        ("data-0", "cache", "www-web-2"),
    ),
    "data-protection/pv-delete": (
        ("pv", "persistentvolume", "persistentvolumes"),
        False,
        ("pv-0001", "pvc-3f2a"),
    ),
    "data-protection/namespace-delete": (
        ("ns", "namespace", "namespaces"),
        False,
        ("staging", "preview", "team-a"),
    ),
    "data-protection/secret-delete": (
        ("secret", "secrets"),
        True,
        ("db-credentials", "tls-web"),
    ),
}
NAMESPACES: Final = ("shop", "staging", "default", "kube-system")
HARMLESS_DELETE_FLAGS: Final = (
    ("--force",),
    ("--grace-period=0",),
    ("--wait=false",),
    ("--ignore-not-found",),
    ("-o", "name"),
    ("--timeout=30s",),
    ("--cascade=background",),
    ("-v=2",),
)
HARMLESS_FLAGS: Final = (
    ("-o", "yaml"),
    ("-o", "json"),
    ("--wait",),
    ("--ignore-not-found",),
    ("-v=2",),
    ("--v=4",),
    ("--request-timeout=5s",),
)
GLOBAL_FLAGS: Final = (("-v=2",), ("--request-timeout=5s",))
TWO_WORD_COMMANDS: Final = frozenset({"rollout", "set", "create", "top"})


def _cased(draw: st.DrawFn, word: str) -> str:
    upper = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if u else c for c, u in zip(word, upper, strict=True))


def _interleave(draw: st.DrawFn, positional: list[str], flags: list[tuple[str, ...]]) -> list[str]:
    """Flags in any order, each at any position between the positional arguments."""
    groups = draw(st.permutations(flags))
    slots = [draw(st.integers(0, len(positional))) for _ in groups]
    tokens: list[str] = []
    for index in range(len(positional) + 1):
        for group, slot in zip(groups, slots, strict=True):
            if slot == index:
                tokens.extend(group)
        if index < len(positional):
            tokens.append(positional[index])
    return tokens


@st.composite
def data_deletes(draw: st.DrawFn) -> tuple[str, str, bool]:
    """(command, expected rule, whether it spans every namespace or every object)."""
    rule = draw(st.sampled_from(sorted(DATA_DELETES)))
    spellings, namespaced, names = DATA_DELETES[rule]
    resource = _cased(draw, draw(st.sampled_from(spellings))) + draw(st.sampled_from(["", ".v1."]))
    target = draw(st.sampled_from(["names", "slash", "selector", "all", "field-selector"]))
    objects = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    flags: list[tuple[str, ...]] = list(
        draw(st.lists(st.sampled_from(HARMLESS_DELETE_FLAGS), max_size=3, unique=True))
    )
    positional = [resource]
    if target == "names":
        positional.extend(objects)
    elif target == "slash":
        positional = [f"{resource}/{name}" for name in objects]
    else:
        flags.append(
            {"selector": ("-l", "app=db"), "all": ("--all",)}.get(
                target, ("--field-selector", f"metadata.name={objects[0]}")
            )
        )
    spans_all = target not in ("names", "slash") and not namespaced
    if namespaced:
        namespace = draw(st.sampled_from(NAMESPACES))
        scope = draw(
            st.sampled_from(
                [(), ("-n", namespace), (f"--namespace={namespace}",), ("--namespace", namespace)]
                + ([("-A",), ("--all-namespaces",)] if target not in ("names", "slash") else [])
            )
        )
        spans_all = scope in (("-A",), ("--all-namespaces",))
        if scope:
            flags.append(scope)
    command = "delete " + shlex.join(_interleave(draw, positional, flags))
    return command, rule, spans_all


@settings(max_examples=400, deadline=None)
@given(data_deletes())
def test_any_spelling_of_a_data_delete_is_a_data_mutation_deny(
    drawn: tuple[str, str, bool],
) -> None:
    command, rule, spans_all = drawn
    verdict = judge("kubectl", {"command": command}, policy("redteam"), CooldownState(), NOW)
    allowed_rules = {rule, OPERATOR_NAMESPACE} if spans_all else {rule}
    assert verdict.decision is Decision.DENY, f"{command}: {describe(verdict)}"
    assert verdict.tier is Tier.DATA_MUTATION, f"{command}: {describe(verdict)}"
    assert verdict.rule in allowed_rules, f"{command}: {describe(verdict)}"


# ------------------------------------------------------------------ harmless flags


def _kubectl_cases() -> list[tuple[str, Case]]:
    return [
        (name, case)
        for name in ("redteam", "benign")
        for case in corpus(name)
        if case.tool == "kubectl"
        and isinstance(case.input, dict)
        and isinstance(case.input.get("command"), str)
        and case.input["command"].strip()
    ]


KUBECTL_CASES: Final = _kubectl_cases()


def _split(command: str) -> list[str] | None:
    try:
        return shlex.split(command)
    except ValueError:
        return None


def _with_flag(command: str, flag: tuple[str, ...], where: str) -> str | None:
    tokens = _split(command)
    if not tokens or any(ch in command for ch in ";&|`$<>"):
        return None
    if where == "end":
        if "--" in tokens:
            return None
        tokens = [*tokens, *flag]
    elif where == "before-command":
        if flag not in GLOBAL_FLAGS:
            return None
        tokens = [*flag, *tokens]
    else:
        path = 2 if tokens[0] in TWO_WORD_COMMANDS and len(tokens) > 1 else 1
        if path == 2 and tokens[1].startswith("-"):
            path = 1
        tokens = [*tokens[:path], *flag, *tokens[path:]]
    return shlex.join(tokens)


def _not_looser(base: Verdict, other: Verdict) -> bool:
    if STRICTNESS[other.decision] < STRICTNESS[base.decision]:
        return False
    if base.tier is None or other.tier is None:
        return other.decision is Decision.DENY or base.tier is None
    return TIER_ORDER[other.tier] >= TIER_ORDER[base.tier]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(KUBECTL_CASES),
    st.sampled_from(HARMLESS_FLAGS),
    st.sampled_from(["end", "after-command", "before-command"]),
)
def test_a_harmless_flag_never_lowers_a_tier(
    fixture_case: tuple[str, Case], flag: tuple[str, ...], where: str
) -> None:
    fixture, case = fixture_case
    changed = _with_flag(case.input["command"], flag, where)
    if changed is None:
        return
    rules = policy(fixture)
    base = judge("kubectl", case.input, rules, CooldownState(), NOW)
    other = judge("kubectl", {**case.input, "command": changed}, rules, CooldownState(), NOW)
    assert _not_looser(base, other), (
        f"{case.id}: {changed!r}: {describe(other)}; without the flag {describe(base)}"
    )


def test_global_flags_keep_everyday_reads_allowed() -> None:
    """-v and --request-timeout are accepted on every read, before or after the command."""
    wrong = []
    for case in corpus("benign"):
        if case.expect.get("tier") != "read" or case.tool != "kubectl":
            continue
        for flag in GLOBAL_FLAGS:
            for where in ("end", "before-command"):
                changed = _with_flag(case.input["command"], flag, where)
                if changed is None:
                    continue
                verdict = judge(
                    "kubectl", {"command": changed}, policy("benign"), CooldownState(), NOW
                )
                if verdict.decision is not Decision.ALLOW:
                    wrong.append(f"{changed!r}: {describe(verdict)}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------ order of calls


COOLED_ACTION: Final = "shop-operations/restart-deployment"


@cache
def cooled_policy() -> Policy:
    """The benign policy with a 5-minute cooldown on restart-deployment."""
    folder = FIXTURES / "benign"
    bundle = load_bundle(folder / "agent.yaml", folder / "environment.yaml", folder / "skills")
    assert bundle.agent is not None
    sheet = bundle.sheets["shop-operations"].model_dump(mode="json", exclude_none=True)
    for action in sheet["actions"]:
        if action["id"] == "restart-deployment":
            action["cooldown"] = "5m"
    sheets = {"shop-operations": ActionSheet.model_validate(sheet)}
    return build_policy(bundle.agent, bundle.environment, sheets)


CALLS: Final = [
    (fixture, case)
    for fixture in ("redteam", "benign", "cooled")
    for case in corpus("benign" if fixture == "cooled" else fixture)
]


def _policy(fixture: str) -> Policy:
    return cooled_policy() if fixture == "cooled" else policy(fixture)


@cache
def _alone(fixture: str, case_id: str) -> Verdict:
    case = next(c for c in CALLS if c[0] == fixture and c[1].id == case_id)[1]
    return judge(case.tool, case.input, _policy(fixture), CooldownState(), NOW)


def _key(verdict: Verdict) -> tuple[object, ...]:
    return (verdict.decision, verdict.tier, verdict.rule, verdict.action, verdict.reason)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(CALLS), min_size=2, max_size=30), st.integers(0, 600))
def test_a_verdict_does_not_depend_on_the_calls_before_it(
    calls: list[tuple[str, Case]], step: int
) -> None:
    """One agent's calls in sequence, recording each allowed action as the runtime does."""
    states = {name: CooldownState() for name in ("redteam", "benign", "cooled")}
    now = NOW
    for fixture, case in calls:
        verdict = judge(case.tool, case.input, _policy(fixture), states[fixture], now)
        alone = _alone(fixture, case.id)
        cooling = fixture == "cooled" and alone.action == COOLED_ACTION
        if not cooling:
            assert _key(verdict) == _key(alone), (
                f"{fixture}/{case.id}: {describe(verdict)}; alone {describe(alone)}"
            )
        if verdict.decision is Decision.ALLOW and verdict.action:
            states[fixture] = states[fixture].used(verdict.action, now)
        now += timedelta(seconds=step)


def test_a_cooldown_holds_only_its_own_action() -> None:
    """The cooled policy denies a second restart within 5 minutes and nothing else."""
    rules, state = cooled_policy(), CooldownState()
    restart = {"command": "rollout restart deployment/web -n shop"}
    first = judge("kubectl", restart, rules, state, NOW)
    assert (first.decision, first.action) == (
        Decision.ALLOW,
        "shop-operations/restart-deployment",
    )
    state = state.used("shop-operations/restart-deployment", NOW)
    again = judge("kubectl", restart, rules, state, NOW + timedelta(minutes=4))
    assert (again.decision, again.rule) == (Decision.DENY, "cooldown/active")
    later = judge("kubectl", restart, rules, state, NOW + timedelta(minutes=5))
    assert later.decision is Decision.ALLOW
    other = judge("kubectl", {"command": "delete pod web-abc -n shop"}, rules, state, NOW)
    assert (other.decision, other.action) == (Decision.ALLOW, "shop-operations/delete-pod")


# ------------------------------------------------------------------ order of flags

TEMPLATES: Final = (
    ("get", ("pods",), (("-n", "shop"), ("-o", "yaml"), ("-l", "app=web"), ("--show-labels",))),
    ("get", ("pvc", "data-0"), (("-n", "shop"), ("-o", "wide"), ("--ignore-not-found",))),
    ("describe", ("deploy", "web"), (("-n", "shop"), ("--show-events=false",))),
    ("logs", ("deploy/web",), (("-n", "shop"), ("--tail=10",), ("-c", "app"), ("--previous",))),
    ("delete", ("pod", "web-abc"), (("-n", "shop"), ("--force",), ("--grace-period=0",))),
    ("delete", ("pvc", "data-0"), (("-n", "shop"), ("--force",), ("--wait=false",))),
    ("delete", ("deployment", "web"), (("-n", "shop"), ("--dry-run=server",), ("--now",))),
    ("scale", ("deploy/web",), (("--replicas=0",), ("-n", "shop"), ("--timeout=30s",))),
    ("scale", ("deploy/web",), (("--replicas=3",), ("-n", "shop"), ("-o", "name"))),
    ("rollout restart", ("deployment/web",), (("-n", "shop"), ("-o", "name"))),
    ("annotate", ("deploy", "web", "x=y"), (("-n", "shop"), ("--overwrite",))),
    ("label", ("pvc", "data-shop-db-1", "a=b"), (("-n", "shop"), ("--overwrite",))),
    (
        "patch",
        ("pv", "pv-0001"),
        (("-p", '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}'), ("--type", "merge")),
    ),
    ("patch", ("hpa", "web"), (("-p", '{"spec":{"maxReplicas":4}}'), ("-n", "shop"))),
    ("cordon", ("node-1",), (("--dry-run=client",), ("-v=2",))),
)


@st.composite
def reordered(draw: st.DrawFn) -> tuple[str, str]:
    """(the command with its flags last, the same command with its flags moved around)."""
    verb, positional, flags = draw(st.sampled_from(TEMPLATES))
    canonical = f"{verb} {shlex.join([*positional, *(t for f in flags for t in f)])}"
    moved = f"{verb} {shlex.join(_interleave(draw, list(positional), list(flags)))}"
    return canonical, moved


@settings(max_examples=300, deadline=None)
@given(reordered(), st.sampled_from(["redteam", "benign"]))
def test_flag_order_never_changes_a_verdict(commands: tuple[str, str], fixture: str) -> None:
    canonical, moved = commands
    rules = policy(fixture)
    base = judge("kubectl", {"command": canonical}, rules, CooldownState(), NOW)
    other = judge("kubectl", {"command": moved}, rules, CooldownState(), NOW)
    assert _key(other)[:4] == _key(base)[:4], f"{moved!r}: {describe(other)}; {describe(base)}"
    assert (other.tier is Tier.READ) == (base.tier is Tier.READ)
