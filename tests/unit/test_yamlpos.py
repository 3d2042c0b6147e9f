"""YAML with positions: data as safe_load gives it, every key and value located, problems found."""

from __future__ import annotations

import datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from infraagent.loading.messages import error_message, render_path
from infraagent.loading.yamlpos import parse_yaml
from infraagent.models import InfraAgentSpec, ModelTierConfigSpec

TEXT = """\
name: web
replicas: 3
ratio: 0.5
enabled: yes
when: 2026-01-31
nothing:
ports:
  - 80
  - name: https
    port: 443
"""


def test_data_matches_safe_load() -> None:
    documents, syntax = parse_yaml(TEXT)
    assert syntax is None
    assert [d.data for d in documents] == [yaml.safe_load(TEXT)]
    assert documents[0].data["when"] == datetime.date(2026, 1, 31)


def test_every_key_value_and_item_is_located() -> None:
    (doc,), _ = parse_yaml(TEXT)
    assert doc.values[("replicas",)] == (2, 11)
    assert doc.keys[("replicas",)] == (2, 1)
    assert doc.values[("ports", 0)] == (8, 5)
    assert doc.keys[("ports", 1, "port")] == (10, 5)
    assert doc.values[("ports", 1, "port")] == (10, 11)


def test_positions_of_later_documents_count_from_the_top_of_the_file() -> None:
    documents, _ = parse_yaml("a: 1\n---\n# comment\nb: 2\n")
    assert [d.data for d in documents] == [{"a": 1}, {"b": 2}]
    assert documents[1].values[("b",)] == (4, 4)


def test_line_offset_shifts_every_line() -> None:
    (doc,), _ = parse_yaml("name: x\n", line_offset=1)
    assert doc.values[("name",)] == (2, 7)


def test_syntax_error_is_reported_at_the_problem_and_earlier_documents_survive() -> None:
    documents, syntax = parse_yaml("a: 1\n---\nb: 2\nc: d: e\n")
    assert [d.data for d in documents] == [{"a": 1}]
    assert syntax is not None
    assert (syntax.line, syntax.column) == (4, 5)
    assert "mapping values are not allowed" in syntax.message


def test_duplicate_key_is_a_problem_at_the_second_key() -> None:
    (doc,), _ = parse_yaml("spec:\n  cron: a\n  tier: fast\n  cron: b\n")
    (problem,) = doc.problems
    assert (problem.line, problem.column, problem.code) == (4, 3, "duplicate-key")
    assert problem.path == ("spec", "cron")
    assert "first on line 2" in problem.message
    assert doc.data == {"spec": {"cron": "b", "tier": "fast"}}


def test_anchors_aliases_and_merge_keys_build_like_safe_load() -> None:
    text = "base: &b {x: 1, y: 2}\ncopy: *b\nmerged:\n  <<: *b\n  y: 3\n"
    (doc,), _ = parse_yaml(text)
    assert doc.data == yaml.safe_load(text)


def test_a_merge_is_not_a_duplicate_key() -> None:
    (doc,), _ = parse_yaml("a: &a {k: 1}\nb:\n  <<: *a\n  k: 2\n")
    assert doc.data["b"] == {"k": 2}
    assert doc.problems == []


def test_unknown_tag_and_recursive_alias_are_problems_not_crashes() -> None:
    (doc,), _ = parse_yaml("a: !vault secret\nb: &r [*r]\n")
    messages = sorted(p.message for p in doc.problems)
    assert messages == [
        "this alias refers to itself (a recursive structure)",
        "unknown tag '!vault'",
    ]
    assert doc.data["a"] is None


def test_empty_document_has_no_data() -> None:
    documents, syntax = parse_yaml("a: 1\n---\n")
    assert syntax is None
    assert documents[-1].data is None


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_dumped_data_parses_as_safe_load_parses_it(data: object) -> None:
    text = yaml.safe_dump({"root": data}, allow_unicode=True)
    (doc,), syntax = parse_yaml(text)
    assert syntax is None
    assert doc.data == yaml.safe_load(text)


def _locate(
    text: str, model: type, path: tuple[str | int, ...] = ()
) -> list[tuple[str, int, int, str]]:
    (doc,), _ = parse_yaml(text)
    with pytest.raises(ValidationError) as caught:
        model.model_validate(doc.data)
    found = []
    for error in caught.value.errors():
        loc, (line, column) = doc.locate_error(error)
        found.append((render_path(loc), line, column, error_message(error, loc, model)))
    return found


AGENT_SPEC = """\
description: d
schedule:
  cron: "*/5 * * * *"
model:
  tier: fast
  tokenBudget: lots
skills:
  - name: web
  - name: web
guardrails:
  autonomy: observe
pasued: true
"""


def test_pydantic_errors_are_located_and_rephrased() -> None:
    found = _locate(AGENT_SPEC, InfraAgentSpec)
    assert ("model.tokenBudget", 6, 16, "expected an integer, got 'lots'") in found
    # unknown field: at the key, with a suggestion
    assert ("pasued", 12, 1, "unknown field 'pasued'; did you mean 'paused'?") in found
    # missing field: at the parent mapping (the document here)
    assert ("environmentRef", 1, 1, "missing required field 'environmentRef'") in found


def test_field_path_error_extends_the_location() -> None:
    found = _locate(AGENT_SPEC.replace("tokenBudget: lots", "tokenBudget: 5000"), InfraAgentSpec)
    assert ("skills[1].name", 9, 11, "skill 'web' is listed twice") in found


def test_model_level_error_points_at_the_entry_it_names() -> None:
    text = (
        "tiers:\n"
        "  - {tier: fast, provider: ollama, model: m, endpoint: 'http://o:11434'}\n"
        "  - {tier: fast, provider: ollama, model: n, endpoint: 'http://o:11434'}\n"
    )
    found = _locate(text, ModelTierConfigSpec)
    assert found == [("tiers[1].tier", 3, 12, "tier 'fast' is mapped twice")]


def test_enum_error_lists_the_allowed_values() -> None:
    found = _locate(AGENT_SPEC.replace("tier: fast", "tier: ultra"), InfraAgentSpec)
    assert (
        "model.tier",
        5,
        9,
        "expected one of 'fast', 'standard', 'reasoning', got 'ultra'",
    ) in found


def test_render_path() -> None:
    assert render_path(("spec", "skills", 1, "name")) == "spec.skills[1].name"
    assert render_path(("spec", "endpoints", "grafana", "url")) == "spec.endpoints.grafana.url"
    assert render_path(("metadata", "labels", "app.kubernetes.io/name")) == (
        'metadata.labels["app.kubernetes.io/name"]'
    )
