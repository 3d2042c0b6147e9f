"""Reconciler logic without a cluster: per-file loading, desired objects, prune plans, the loop.

The cluster-facing behaviour (apply, prune, status, Events) is proven on the real API server
in ``tests/integration/test_reconciler.py``.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infraagent.cli.reconcile import exit_status, implicit_name
from infraagent.loading.snapshot import FleetSnapshotLoader
from infraagent.models.fleetsource import FleetSourceStatus
from infraagent.models.keys import (
    SKILL_MD_KEY,
    SKILL_SHEET_KEY,
    SOURCE_NAME_LABEL,
    SOURCE_REVISION_ANNOTATION,
)
from infraagent.reconciler.context import (
    ReconcileResult,
    ReconcilerPorts,
    SourceObject,
    SourceState,
)
from infraagent.reconciler.desired import Key, desired_objects, with_revision
from infraagent.reconciler.loop import ReconcileLoop, next_delay
from infraagent.reconciler.prune import plan
from infraagent.reconciler.reconcile import implicit_source, source_from_object

REPO = Path(__file__).resolve().parents[2]
PATHS = ("agents/", "environments/", "skills/")

AGENT = """apiVersion: core.infraagent.io/v1alpha1
kind: InfraAgent
metadata:
  name: {name}
spec:
  description: watches things
  schedule: {{cron: "*/5 * * * *"}}
  model: {{tier: fast}}
  skills: [{{name: hello-world}}]
  guardrails: {{autonomy: observe}}
  environmentRef: dev-lab
"""


def _fleet(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    (root / "agents").mkdir(parents=True)
    for sub in ("environments", "skills/hello-world"):
        source = REPO / sub
        target = root / sub
        target.mkdir(parents=True, exist_ok=True)
        if sub == "environments":
            (target / "dev-lab.yaml").write_text((source / "dev-lab.yaml").read_text())
            (target / "tiers.yaml").write_text((source / "model-tiers.yaml").read_text())
        else:
            for f in source.iterdir():
                (target / f.name).write_text(f.read_text())
    for name in ("alpha", "beta"):
        (root / "agents" / f"{name}.yaml").write_text(AGENT.format(name=name))
    return root


def test_a_broken_file_yields_only_its_problems_and_the_others_their_definitions(
    tmp_path: Path,
) -> None:
    root = _fleet(tmp_path)
    (root / "agents" / "beta.yaml").write_text(AGENT.format(name="beta") + "  bogus: [\n")
    loaded = FleetSnapshotLoader().load(root, PATHS)
    by_file = {f.file: f for f in loaded.files}
    assert by_file["agents/alpha.yaml"].ok
    assert [d.name for d in by_file["agents/alpha.yaml"].definitions] == ["alpha"]
    broken = by_file["agents/beta.yaml"]
    assert not broken.ok and broken.definitions == ()
    assert broken.problems[0].line >= 12
    skill = loaded.skills[0]
    assert skill.name == "hello-world" and skill.ok and skill.actions_yaml is not None


def test_missing_paths_are_empty_not_errors(tmp_path: Path) -> None:
    loaded = FleetSnapshotLoader().load(tmp_path, PATHS)
    assert loaded.files == () and loaded.skills == ()


def test_desired_objects_are_labelled_namespaced_and_skills_become_configmaps(
    tmp_path: Path,
) -> None:
    loaded = FleetSnapshotLoader().load(_fleet(tmp_path), PATHS)
    desired = desired_objects(loaded, "fleet", "ops", "team")
    kinds = [(d.key.kind, d.key.namespace) for d in desired]
    assert kinds[0] == ("ModelTierConfig", None)
    assert ("AgentEnvironment", "team") in kinds and ("InfraAgent", "team") in kinds
    configmap = next(d for d in desired if d.key.kind == "ConfigMap")
    assert configmap.key.name == "infraagent-skill-hello-world"
    assert set(configmap.body["data"]) == {SKILL_MD_KEY, SKILL_SHEET_KEY}
    for d in desired:
        assert d.body["metadata"]["labels"][SOURCE_NAME_LABEL] == "fleet"


def test_an_unchanged_object_keeps_its_live_revision_so_the_apply_is_a_no_op(
    tmp_path: Path,
) -> None:
    loaded = FleetSnapshotLoader().load(_fleet(tmp_path), PATHS)
    agent = next(d for d in desired_objects(loaded, "f", "ns", "ns") if d.key.kind == "InfraAgent")
    first = with_revision(agent, "a" * 40, None)
    assert first["metadata"]["annotations"][SOURCE_REVISION_ANNOTATION] == "a" * 40
    again = with_revision(agent, "b" * 40, first)
    assert again == first
    changed = dict(first, metadata={**first["metadata"], "annotations": {}})
    assert with_revision(agent, "b" * 40, changed)["metadata"]["annotations"][
        SOURCE_REVISION_ANNOTATION
    ] == ("b" * 40)


def _k(name: str) -> Key:
    return Key("core.infraagent.io/v1alpha1", "InfraAgent", "ns", name)


def test_prune_plan_deletes_only_inventoried_objects_that_are_no_longer_desired() -> None:
    keys, note = plan([_k("a"), _k("b")], {_k("a"), _k("c")}, enabled=True, clean=True,
                      allow_empty=False)  # fmt: skip
    assert keys == [_k("b")] and note == ""


def test_prune_plan_holds_back_after_errors_when_off_and_before_emptying() -> None:
    inventory = [_k("a"), _k("b")]
    assert plan(inventory, {_k("a")}, enabled=True, clean=False, allow_empty=False)[0] == []
    assert plan(inventory, {_k("a")}, enabled=False, clean=True, allow_empty=False)[0] == []
    keys, note = plan(inventory, set(), enabled=True, clean=True, allow_empty=False)
    assert keys == [] and "allowPruneToEmpty" in note
    keys, _ = plan(inventory, {_k("z")}, enabled=True, clean=True, allow_empty=False)
    assert keys == []
    keys, _ = plan(inventory, set(), enabled=True, clean=True, allow_empty=True)
    assert keys == [_k("a"), _k("b")]


def test_polls_are_jittered_within_five_percent_and_failures_back_off() -> None:
    minute = timedelta(minutes=1)
    ok = ReconcileResult(
        source="ns/f", outcome="applied", revision=None, status=FleetSourceStatus()
    )
    delays = {next_delay(minute, ok, 0, random.Random(seed)) for seed in range(50)}
    assert len(delays) > 1 and all(57 <= d.total_seconds() <= 63 for d in delays)
    failed = ReconcileResult(source="ns/f", outcome="failed", revision=None, status=ok.status)
    backoff = [next_delay(minute, failed, n, random.Random(0)).total_seconds() for n in (1, 2, 3)]
    assert backoff == [10, 20, 40]
    assert next_delay(minute, failed, 9, random.Random(0)) == minute


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


def _loop(clock: _Clock, calls: list[str], during: Any = None) -> ReconcileLoop:
    source = implicit_source("file:///fleet", name="fleet", namespace="ops")

    def reconcile(s: SourceObject, ports: ReconcilerPorts, state: SourceState) -> ReconcileResult:
        calls.append(s.key)
        if during is not None:
            during()
        return ReconcileResult(source=s.key, outcome="applied", revision=None,
                               status=FleetSourceStatus())  # fmt: skip

    ports = ReconcilerPorts(
        cluster=None,  # type: ignore[arg-type]
        loader=FleetSnapshotLoader(),
        clock=clock,
        repositories=None,  # type: ignore[arg-type]
        events=lambda *a: None,
    )
    return ReconcileLoop(ports, lambda: [source], rng=random.Random(1), reconcile=reconcile)


def test_a_burst_of_requests_causes_one_pass_and_polls_wait_for_the_interval() -> None:
    clock, calls = _Clock(), []
    loop = _loop(clock, calls)
    loop.run_due()
    assert calls == ["ops/fleet"]
    loop.run_due()
    assert calls == ["ops/fleet"], "not due before the interval"
    for _ in range(10):
        loop.request_reconcile("ops", "fleet")
    assert loop.seconds_until_due() == 0
    loop.run_due()
    loop.run_due()
    assert calls == ["ops/fleet"] * 2
    clock.at += timedelta(seconds=64)
    loop.run_due()
    assert len(calls) == 3


def test_requests_during_a_pass_cause_exactly_one_more_pass() -> None:
    clock, calls = _Clock(), []
    loop: ReconcileLoop | None = None

    def burst() -> None:
        if len(calls) == 1:
            threads = [threading.Thread(target=loop.request_reconcile, args=("ops", "fleet"))
                       for _ in range(5)]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join()

    loop = _loop(clock, calls, burst)
    loop.run_due()
    loop.run_due()
    loop.run_due()
    assert calls == ["ops/fleet"] * 2


def test_a_status_from_another_version_does_not_stop_the_source() -> None:
    obj = {
        "apiVersion": "core.infraagent.io/v1alpha1",
        "kind": "FleetSource",
        "metadata": {"name": "fleet", "namespace": "ops", "generation": 2},
        "spec": {"url": "https://example.com/fleet.git"},
        "status": {"somethingNew": True, "inventory": "not a list"},
    }
    source = source_from_object(obj)
    assert source.model.status == FleetSourceStatus() and source.generation == 2
    with pytest.raises(ValidationError):
        source_from_object({**obj, "spec": {"url": "x", "paths": ["/etc"]}})


@pytest.mark.parametrize(
    ("repo", "name"),
    [
        ("https://github.com/acme/Fleet_Repo.git", "fleet-repo"),
        ("git@github.com:acme/ops.git", "ops"),
        ("/srv/checkouts/platform/", "platform"),
        ("___", "fleet"),
    ],
)
def test_the_implicit_source_is_named_after_the_repository(repo: str, name: str) -> None:
    assert implicit_name(repo) == name


def test_exit_status_is_2_for_a_failed_fetch_1_for_failed_definitions() -> None:
    def result(outcome: Any) -> ReconcileResult:
        return ReconcileResult(source="a/b", outcome=outcome, revision=None,
                               status=FleetSourceStatus())  # fmt: skip

    assert exit_status([result("applied"), result("unchanged")]) == 0
    assert exit_status([result("applied"), result("partial")]) == 1
    assert exit_status([result("partial"), result("failed")]) == 2


def test_the_whole_repository_as_one_path_reports_plain_file_names(tmp_path: Path) -> None:
    root = _fleet(tmp_path)
    loaded = FleetSnapshotLoader().load(root, (".",))
    assert "agents/alpha.yaml" in {f.file for f in loaded.files}
    nested = FleetSnapshotLoader().load(tmp_path, ("fleet/agents/",))
    assert {f.file for f in nested.files} == {"fleet/agents/alpha.yaml", "fleet/agents/beta.yaml"}
