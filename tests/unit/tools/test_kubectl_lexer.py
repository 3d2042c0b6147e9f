"""The kubectl command line is split like a POSIX shell would split it, and everything a
shell would treat as syntax (not as a word) is refused: the call never runs a shell, so a
command that needs one cannot mean what it says."""

from __future__ import annotations

import pytest

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl import parse_kubectl
from infraagent.tools.kubectl.lexer import split_command

METACHARACTERS = [";", "&&", "||", "|", "&", "`", "$(", "${", ">", "<", ">>", "2>", "(", ")", "$"]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("get pods", ["get", "pods"]),
        ("  get   pods  ", ["get", "pods"]),
        ("get 'my pod'", ["get", "my pod"]),
        ('get "my pod"', ["get", "my pod"]),
        ("get my\\ pod", ["get", "my pod"]),
        ("get po\\ds", ["get", "pods"]),
        ("get ''", ["get", ""]),
        ("get a'b'\"c\"d", ["get", "abcd"]),
        ('get "a\\"b"', ["get", 'a"b']),
        ('get "a\\nb"', ["get", "a\\nb"]),
        ("get 'a\\b'", ["get", "a\\b"]),
        ("get a#b", ["get", "a#b"]),
        ('get "{$.items}"', ["get", "{$.items}"]),
        ('get "cost: $"', ["get", "cost: $"]),
    ],
)
def test_words_are_split_like_a_posix_shell(command: str, words: list[str]) -> None:
    assert split_command(command) == words


@pytest.mark.parametrize("meta", METACHARACTERS)
def test_unquoted_shell_metacharacters_are_refused(meta: str) -> None:
    for command in (f"get pods {meta} id", f"get pods{meta}id", f"{meta}get pods"):
        with pytest.raises(ParseError) as caught:
            parse_kubectl(command)
        assert caught.value.rule == "parse/shell-metacharacter", command


@pytest.mark.parametrize("meta", METACHARACTERS)
def test_single_quoted_metacharacters_are_plain_text(meta: str) -> None:
    assert parse_kubectl(f"get pods -l 'a{meta}b'") == [
        KubeRequest("list", "pods", label_selector=f"a{meta}b")
    ]


@pytest.mark.parametrize("meta", [";", "&&", "||", "|", "&", ">", "<", "(", ")", "$.x", "$ "])
def test_double_quoted_metacharacters_without_expansion_are_plain_text(meta: str) -> None:
    assert split_command(f'get "a{meta}b"') == ["get", f"a{meta}b"]


@pytest.mark.parametrize("text", ["`id`", "$(id)", "${HOME}", "$HOME", "$1", "$?", "$$"])
def test_expansions_inside_double_quotes_are_refused(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        split_command(f'get "x{text}"')
    assert caught.value.rule == "parse/shell-metacharacter"


def test_escaped_metacharacters_are_plain_text() -> None:
    assert split_command('get a\\;b \\$x "\\$(y)"') == ["get", "a;b", "$x", "$(y)"]


def test_a_comment_is_refused_but_a_hash_inside_a_word_is_not() -> None:
    with pytest.raises(ParseError, match="'#'"):
        split_command("delete pods web # and more")
    assert split_command("get a#b") == ["get", "a#b"]


@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\t", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused_anywhere(char: str) -> None:
    for command in (f"get pods{char}delete pvc x", f"get '{char}'", f'get "{char}"'):
        with pytest.raises(ParseError) as caught:
            split_command(command)
        assert caught.value.rule == "parse/shell-metacharacter"


@pytest.mark.parametrize("char", ["\u00a0", "\u200b", "\u2028", "\u3000", "\ufeff"])
def test_invisible_and_unicode_spaces_are_refused(char: str) -> None:
    with pytest.raises(ParseError) as caught:
        split_command(f"delete pvc{char}data")
    assert caught.value.rule == "parse/syntax"


@pytest.mark.parametrize("command", ["get 'pods", 'get "pods', "get pods\\", "get \"a'"])
def test_unbalanced_quotes_and_dangling_escapes_are_syntax_errors(command: str) -> None:
    with pytest.raises(ParseError) as caught:
        split_command(command)
    assert caught.value.rule == "parse/syntax"


def test_an_over_long_command_is_refused() -> None:
    with pytest.raises(ParseError) as caught:
        split_command("get pods " + "a" * 20_000)
    assert caught.value.rule == "parse/syntax"


def test_a_quoted_json_patch_and_jsonpath_pass_through_unchanged() -> None:
    patch = '{"spec": {"template": {"metadata": {"labels": {"a|b": "c;d"}}}}}'
    assert split_command(f"patch deploy web -p '{patch}'") == [
        "patch",
        "deploy",
        "web",
        "-p",
        patch,
    ]
    jsonpath = "jsonpath={range .items[*]}{.metadata.name}{'\\n'}{end}"
    assert split_command(f'get pods -o "{jsonpath}"')[-1] == jsonpath
