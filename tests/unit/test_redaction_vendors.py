"""Redaction of bare credentials: a provider key, token or access key id is redacted by its
shape alone, with no secret-looking name in front of it and without being a known value,
in text and in JSON; words and identifiers that merely share a prefix are left alone.

The keys below are generated (a seeded random body behind each vendor's real prefix), so
no real credential is written here.
"""

from __future__ import annotations

import json
import random
import string
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infraagent.redaction import REDACTED, Redactor
from infraagent.redaction.vendors import looks_random

_BASE62: Final = string.ascii_letters + string.digits
_RANDOM: Final = random.Random(20261127)


def _body(length: int, alphabet: str = _BASE62) -> str:
    return "".join(_RANDOM.choice(alphabet) for _ in range(length))


ANTHROPIC: Final = f"sk-ant-api03-{_body(93, _BASE62 + '-_')}AA"
OPENAI_PROJECT: Final = f"sk-proj-{_body(48, _BASE62 + '-_')}T3BlbkFJ{_body(48, _BASE62 + '-_')}"
OPENAI_SERVICE: Final = f"sk-svcacct-{_body(60, _BASE62 + '-_')}"
OPENAI_LEGACY: Final = f"sk-{_body(20)}T3BlbkFJ{_body(20)}"
OPENROUTER: Final = f"sk-or-v1-{_body(64, '0123456789abcdef')}"
GITHUB: Final = f"ghp_{_body(36)}"
GITHUB_FINE: Final = f"github_pat_11{_body(20)}_{_body(59)}"
SLACK: Final = f"xoxb-{_body(12, string.digits)}-{_body(13, string.digits)}-{_body(24)}"
AWS_KEY_ID: Final = f"AKIA{_body(16, string.ascii_uppercase + '234567')}"
GITLAB: Final = f"glpat-{_body(20, _BASE62 + '-_')}"
GITLAB_DEPLOY: Final = f"gldt-{_body(20, _BASE62 + '-_')}"
GOOGLE: Final = f"AIzaSy{_body(33, _BASE62 + '-_')}"
HUGGING_FACE: Final = f"hf_{_body(34, string.ascii_letters)}"

KEYS: Final = {
    "anthropic": ANTHROPIC,
    "openai project": OPENAI_PROJECT,
    "openai service account": OPENAI_SERVICE,
    "openai legacy": OPENAI_LEGACY,
    "openrouter": OPENROUTER,
    "github classic": GITHUB,
    "github fine-grained": GITHUB_FINE,
    "slack bot": SLACK,
    "aws access key id": AWS_KEY_ID,
    "gitlab personal": GITLAB,
    "gitlab deploy": GITLAB_DEPLOY,
    "google api key": GOOGLE,
    "hugging face": HUGGING_FACE,
}

redactor = Redactor()  # knows no value: only the shapes can find these keys


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{}", REDACTED),
        ('"{}"', f'"{REDACTED}"'),
        ("key: {}", f"key: {REDACTED}"),
        ("- {}\n", f"- {REDACTED}\n"),
        ("export LLM={} && run", f"export LLM={REDACTED} && run"),
        ("curl -H 'x: {}' https://api", f"curl -H 'x: {REDACTED}' https://api"),
        ('{{"v": ["a", "{}"]}}', f'{{"v": ["a", "{REDACTED}"]}}'),
        ("the key ({}) was rotated.", f"the key ({REDACTED}) was rotated."),
    ],
    ids=["bare", "quoted", "key:", "list", "env", "header", "json", "prose"],
)
def test_a_bare_key_is_redacted_by_its_shape(key: str, template: str, expected: str) -> None:
    assert redactor.redact(template.format(key)) == expected


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_a_bare_key_is_redacted_in_long_kubectl_output(key: str) -> None:
    lines = [f"pod-{n}   1/1   Running   0   3d   note-{n}" for n in range(20)]
    lines[11] += f" {key}"
    text = "\n".join(lines)
    redacted = redactor.redact(text)
    assert key not in redacted
    assert redacted == text.replace(key, REDACTED)


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_a_bare_key_is_redacted_in_json_data_keys_and_values(key: str) -> None:
    document = {
        "spec": {"model": "fast", "args": ["--model", "opus", key], "note": f"use {key} now"},
        key: 1,
        "count": 3,
    }
    redacted = redactor.redact_json(document)
    assert key not in json.dumps(redacted)
    assert redacted == {
        "spec": {
            "model": "fast",
            "args": ["--model", "opus", REDACTED],
            "note": f"use {REDACTED} now",
        },
        REDACTED: 1,
        "count": 3,
    }


@pytest.mark.parametrize(
    "text",
    [
        "pip install scikit-learn sk-learn",
        "task-1 task-12 subtask-3 disk-pressure desk-lamp risk-free flask-sqlalchemy",
        "task-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7",  # sk- glued to a word: not a key
        "replace sk-proj-your-key-here with your own",
        "sk-proj-frontend-backend-integration-tests",  # a slug: one kind of character
        "sk-" + "x" * 48,
        "sk-ant-api03-...",
        "sk-ant-api03-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "glpat-xxxxxxxxxxxxxxxxxxxx and glpat-your_personal_token",
        "gl-runner glpat- glpatch-notes",
        "from huggingface_hub import hf_hub_download",
        "AIzaSyExample and AIza",
        "image: registry.local/sk-proj-builder:1.0",
        "hf_transfer=1 HF_HOME=/cache",
    ],
)
def test_lookalikes_of_vendor_keys_are_left_alone(text: str) -> None:
    assert redactor.redact(text) == text
    assert redactor.redact_json({"note": text, text: [text]}) == {"note": text, text: [text]}


def test_only_the_key_goes_and_the_text_around_it_stays() -> None:
    text = f"connected with {ANTHROPIC}; fallback {OPENAI_PROJECT}, repo token {GITLAB}."
    assert redactor.redact(text) == (
        f"connected with {REDACTED}; fallback {REDACTED}, repo token {REDACTED}."
    )


def test_a_key_in_a_url_and_in_an_authorization_header_is_redacted_once() -> None:
    assert redactor.redact(f"https://oauth2:{GITLAB}@gitlab.example.com/acme/fleet.git") == (
        f"https://oauth2:{REDACTED}@gitlab.example.com/acme/fleet.git"
    )
    assert redactor.redact(f"x-api-key: {ANTHROPIC}\nanthropic-version: 2023-06-01") == (
        f"x-api-key: {REDACTED}\nanthropic-version: 2023-06-01"
    )


def test_redaction_of_vendor_keys_is_idempotent() -> None:
    text = " ".join(KEYS.values())
    once = redactor.redact(text)
    assert redactor.redact(once) == once == " ".join([REDACTED] * len(KEYS))


@pytest.mark.parametrize(
    ("body", "random_looking"),
    [
        (_body(20, _BASE62 + "-_"), True),
        (_body(64, "0123456789abcdef"), True),
        ("your-personal-access-token", False),
        ("Backend_Service_Config", True),  # behind a vendor prefix this is taken as a key
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", False),
        ("AbAbAbAbAbAbAbAbAbAbAbAb", False),
        ("1234567890123456789012", False),
    ],
)
def test_what_counts_as_random(body: str, random_looking: bool) -> None:
    assert looks_random(body) is random_looking


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["sk-ant-api03-", "sk-proj-", "sk-svcacct-", "glpat-", "gldt-"]),
    body=st.text(alphabet=_BASE62 + "-_", min_size=24, max_size=120).filter(looks_random),
    before=st.sampled_from(["", " ", "\n", '"', "'", "=", ": ", "(", "[", ","]),
    after=st.sampled_from(["", " ", "\n", '"', "'", ")", "]", ",", ";", "."]),
)
def test_a_random_key_behind_a_vendor_prefix_never_survives(
    prefix: str, body: str, before: str, after: str
) -> None:
    key = prefix + body
    redacted = redactor.redact(f"line one\n{before}{key}{after}\nline three")
    assert body not in redacted
    assert redacted == f"line one\n{before}{REDACTED}{after}\nline three"
