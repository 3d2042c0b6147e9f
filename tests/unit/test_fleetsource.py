"""The FleetSource model: defaults, refused values, its CRD, and the derived conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from infraagent.models import KINDS, FleetSource
from infraagent.models.common import Condition, ConditionStatus
from infraagent.models.crd import KIND_SPECS, crd
from infraagent.models.fleetsource import Verdict, derive_conditions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _source(**spec: Any) -> FleetSource:
    return FleetSource.model_validate(
        {
            "apiVersion": "core.infraagent.io/v1alpha1",
            "kind": "FleetSource",
            "metadata": {"name": "fleet", "namespace": "team"},
            "spec": {"url": "https://example.com/fleet.git", **spec},
        }
    )


def test_defaults_follow_the_documented_layout_and_are_safe() -> None:
    spec = _source().spec
    assert spec.branch == "main"
    assert spec.paths == ["agents/", "environments/", "skills/"]
    assert spec.interval == "1m"
    assert (spec.prune, spec.allowPruneToEmpty, spec.suspend) == (True, False, False)
    assert spec.runsBranch == "infraagent/runs"
    assert spec.targetNamespace is None and spec.secretRef is None and spec.revision is None


@pytest.mark.parametrize("path", ["../other", "/etc", "agents/../../x", "c:/x"])
def test_paths_outside_the_repository_are_refused(path: str) -> None:
    with pytest.raises(ValidationError, match="relative path inside the repository"):
        _source(paths=[path])


@pytest.mark.parametrize("interval", ["5s", "25h", "1d"])
def test_intervals_outside_10s_to_24h_are_refused(interval: str) -> None:
    with pytest.raises(ValidationError):
        _source(interval=interval)


def test_webhook_secret_key_defaults_to_token_and_unknown_fields_are_errors() -> None:
    source = _source(webhook={"secretRef": {"name": "hook"}}, secretRef={"name": "creds"})
    assert source.spec.webhook is not None and source.spec.webhook.secretRef.key == "token"
    with pytest.raises(ValidationError):
        _source(secretRef={"name": "creds", "token": "inline"})


def test_the_crd_is_namespaced_with_short_name_category_and_columns() -> None:
    assert KINDS["FleetSource"] is FleetSource
    spec = next(s for s in KIND_SPECS if s.kind == "FleetSource")
    doc = crd(spec)
    names = doc["spec"]["names"]
    assert (doc["spec"]["scope"], names["shortNames"], names["categories"]) == (
        "Namespaced",
        ["fs"],
        ["infraagent"],
    )
    columns = [c["name"] for c in doc["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:2] == ["Ready", "Revision"] and columns[-1] == "Age"
    status = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert {"inventory", "errors", "history", "lastAppliedRevision"} <= set(status["properties"])


def _by_type(conditions: list[Condition]) -> dict[str, Condition]:
    return {c.type: c for c in conditions}


def test_success_is_ready_with_no_abnormal_conditions() -> None:
    got = _by_type(derive_conditions([], Verdict(ready=True, reason="Done"), T0, 3))
    assert set(got) == {"Ready"}
    assert got["Ready"].status is ConditionStatus.TRUE and got["Ready"].observedGeneration == 3


def test_a_failure_with_retry_is_not_ready_and_reconciling() -> None:
    verdict = Verdict(ready=False, reason="AuthenticationFailed", retrying=True)
    got = _by_type(derive_conditions([], verdict, T0, 1))
    assert got["Ready"].status is ConditionStatus.FALSE
    assert got["Ready"].reason == "AuthenticationFailed"
    assert got["Reconciling"].reason == "ProgressingWithRetry" and "Stalled" not in got


def test_stalled_wins_over_ready_and_retry() -> None:
    verdict = Verdict(ready=True, reason="InvalidSpec", retrying=True, stalled=True)
    got = _by_type(derive_conditions([], verdict, T0, 1))
    assert got["Ready"].status is ConditionStatus.FALSE
    assert got["Stalled"].status is ConditionStatus.TRUE and "Reconciling" not in got


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = derive_conditions([], Verdict(ready=True, reason="Done"), T0, 1)
    later = T0 + timedelta(minutes=5)
    same = derive_conditions(first, Verdict(ready=True, reason="Done", message="x"), later, 2)
    assert same[0].lastTransitionTime == T0
    flipped = derive_conditions(same, Verdict(ready=False, reason="RefNotFound"), later, 2)
    assert flipped[0].lastTransitionTime == later


def test_the_shipped_example_fleetsource_is_valid_and_reads_the_fleet_folders() -> None:
    example = Path(__file__).resolve().parents[2] / "reconciler" / "fleetsource.yaml"
    source = FleetSource.model_validate(yaml.safe_load(example.read_text()))
    assert source.spec.paths == ["agents/", "environments/", "skills/"]
    assert source.spec.prune and not source.spec.allowPruneToEmpty


@pytest.mark.parametrize("field", ["branch", "revision", "runsBranch"])
@pytest.mark.parametrize("ref", ["-upload-pack=evil", "main branch", ""])
def test_refs_that_git_would_read_as_options_or_split_are_refused(field: str, ref: str) -> None:
    with pytest.raises(ValidationError):
        _source(**{field: ref})
