"""kubectl flags are read exactly as kubectl reads them, in any order and spelling; identity
and target flags are refused wherever they appear; unknown flags are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl import parse_kubectl
from infraagent.tools.kubectl.flags import go_int

IDENTITY_VALUE_FLAGS = [
    "server",
    "kubeconfig",
    "context",
    "cluster",
    "user",
    "token",
    "as",
    "as-group",
    "as-uid",
    "certificate-authority",
    "client-certificate",
    "client-key",
    "tls-server-name",
    "username",
    "password",
    "raw",
    "cache-dir",
    "profile",
    "profile-output",
    "kuberc",
    "as-user-extra",
]
IDENTITY_BOOL_FLAGS = ["insecure-skip-tls-verify"]


def refused(command: str, rule: str, manifest: str | None = None) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_kubectl(command, manifest)
    assert caught.value.rule == rule, (command, caught.value.reason)
    return caught.value


def identity_spellings(flag: str) -> list[str]:
    underscored = flag.replace("-", "_")
    return [
        f"--{flag}=v get pods",
        f"--{flag} v get pods",
        f"get --{flag}=v pods",
        f"get pods --{flag}=v",
        f"get pods --{flag} v",
        f"get pods -l --{flag}=v",
        f"get pods -- --{flag}=v",
        f"get pods --{underscored}=v",
        f"delete pod web --{flag}=v",
        f"rollout restart --{flag} v deploy/web",
        f"create rolebinding rb --clusterrole=view --{flag}=v" if flag != "user" else "get",
    ]


@pytest.mark.parametrize("flag", IDENTITY_VALUE_FLAGS + IDENTITY_BOOL_FLAGS)
def test_identity_flags_are_refused_in_every_spelling_and_position(flag: str) -> None:
    for command in identity_spellings(flag):
        if command == "get":
            continue
        refused(command, "parse/identity-flag")


@pytest.mark.parametrize(
    "command",
    [
        "-s https://evil get pods",
        "get pods -s https://evil",
        "get pods -shttps://evil",
        "get pods -s=https://evil",
        "get pods -As x",
        "get pods -n -s",
        "get pods -- -s",
        "apply -f - -s x",
    ],
)
def test_the_short_server_flag_is_refused(command: str) -> None:
    refused(command, "parse/identity-flag", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}")


def test_user_is_a_subject_only_where_kubectl_defines_it_so() -> None:
    created = parse_kubectl("create rolebinding rb --clusterrole=view --user=bob")
    assert created[0].body["subjects"][0]["name"] == "bob"
    refused("create rolebinding rb --clusterrole=view --user=bob --as=admin", "parse/identity-flag")
    refused("get pods --user=bob", "parse/identity-flag")
    refused("create role r --verb=get --resource=pods --user=bob", "parse/identity-flag")


@pytest.mark.parametrize(
    "command",
    [
        "get pods --bogus",
        "get pods --bogus=1",
        "get pods -Z",
        "get pods -wZ",
        "get pods --help",
        "delete pod web --interactive",
        "scale deploy web --replicas=1 -A",
        "drain node1 -A",
        "logs web -A",
        "apply -f - --prune",
        "apply -f - --force",
        "get pods --=x",
    ],
)
def test_unknown_flags_are_refused(command: str) -> None:
    refused(command, "parse/unknown-flag", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}")


@pytest.mark.parametrize(
    "command",
    [
        "get pods -n prod -l app=web",
        "get pods -nprod -lapp=web",
        "get pods -n=prod -l=app=web",
        "get pods --namespace prod --selector app=web",
        "get pods --namespace=prod --selector=app=web",
        "-n prod get pods -l app=web",
        "--namespace=prod get -l app=web pods",
        "get -l app=web pods -n prod",
        "get pods -n other -n prod -l app=web",
    ],
)
def test_value_flags_are_read_in_every_pflag_form(command: str) -> None:
    assert parse_kubectl(command) == [
        KubeRequest("list", "pods", namespace="prod", label_selector="app=web")
    ]


def test_grouped_boolean_shorthands_equal_separate_ones() -> None:
    expected = [KubeRequest("watch", "pods", all_namespaces=True, label_selector="a=b")]
    assert parse_kubectl("get pods -wAl a=b") == expected
    assert parse_kubectl("get pods -w -A -l a=b") == expected
    assert parse_kubectl("get pods -w=true -A=1 -l a=b") == expected


def test_boolean_flags_can_be_turned_off() -> None:
    assert parse_kubectl("get pods -A=false --watch=f") == [KubeRequest("list", "pods")]
    assert parse_kubectl("delete pod web --force=false")[0].options == frozenset()
    refused("delete pod web --force=maybe", "parse/syntax")


def test_a_boolean_flag_never_takes_the_next_word() -> None:
    assert parse_kubectl("get -A pods") == [KubeRequest("list", "pods", all_namespaces=True)]
    assert parse_kubectl("delete --force pod web") == [
        KubeRequest("delete", "pod", name="web", options=frozenset({"force", "grace-period=0"}))
    ]


def test_double_dash_ends_flags() -> None:
    assert parse_kubectl("delete pod -- --force") == [KubeRequest("delete", "pod", name="--force")]


@pytest.mark.parametrize(
    ("flag", "dry_run"),
    [
        ("--dry-run", True),
        ("--dry-run=client", True),
        ("--dry-run=server", True),
        ("--dry-run=none", False),
        ("--dry-run=true", True),
        ("--dry-run=false", False),
        ("", False),
    ],
)
def test_dry_run(flag: str, dry_run: bool) -> None:
    assert parse_kubectl(f"delete pod web {flag}")[0].dry_run is dry_run


def test_a_bare_dry_run_does_not_swallow_the_next_word() -> None:
    requests = parse_kubectl("delete pod --dry-run web")
    assert requests == [KubeRequest("delete", "pod", name="web", dry_run=True)]
    refused("delete pod web --dry-run=maybe", "parse/syntax")
    refused("get pods --dry-run=server", "parse/unknown-flag")


def test_all_namespaces_is_refused_with_names_as_kubectl_refuses_it() -> None:
    refused("get pod web -A", "parse/syntax")
    refused("delete pod web -A", "parse/syntax")
    refused("label pod web a=b -A", "parse/syntax")
    assert parse_kubectl("delete pods -A -l app=x") == [
        KubeRequest("deletecollection", "pods", all_namespaces=True, label_selector="app=x")
    ]


@pytest.mark.parametrize("namespace", ["Prod", "''", "'a b'", "-x", "a_b", "a" * 64, "'ns/x'"])
def test_invalid_namespaces_are_refused(namespace: str) -> None:
    refused(f"get pods -n {namespace}", "parse/syntax")


def test_a_blank_selector_is_no_selector_as_for_kubectl() -> None:
    assert parse_kubectl("get pods -l ' '") == [KubeRequest("list", "pods")]
    assert parse_kubectl("delete pods --all -l ''") == [
        KubeRequest("deletecollection", "pods", options=frozenset({"all"}))
    ]
    assert parse_kubectl("get pods -l ' app=x '")[0].label_selector == "app=x"


def test_verbosity_must_be_a_number() -> None:
    assert parse_kubectl("get pods -v 6") == parse_kubectl("get pods --v=6")
    refused("get pods -v=loud", "parse/syntax")


def test_flag_values_may_be_missing_only_for_optional_flags() -> None:
    refused("get pods -n", "parse/syntax")
    refused("get pods --selector", "parse/syntax")
    refused("scale deploy web --replicas", "parse/syntax")


def test_flags_before_the_sub_command_must_be_global_or_attached() -> None:
    refused("-o yaml get pods", "parse/unknown-flag")
    refused("rollout -l a=b restart deploy", "parse/unknown-flag")
    refused("create -o yaml deployment web --image=x", "parse/unknown-flag")
    assert parse_kubectl("-o=yaml get pods") == [KubeRequest("list", "pods")]
    assert parse_kubectl("rollout -n x restart deploy/a")[0].namespace == "x"
    assert parse_kubectl("create --dry-run=client deployment web --image=x")[0].dry_run


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0), ("00", 0), ("7", 7), ("010", 8), ("-1", -1), ("123", 123)],
)
def test_integers_are_read_as_kubectl_reads_them(text: str, number: int) -> None:
    assert go_int(text, "x") == number


@pytest.mark.parametrize("text", ["08", "0x1", "+1", "1_0", "1e3", "", "one", "١"])
def test_ambiguous_integer_spellings_are_refused(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        go_int(text, "x")
    assert caught.value.rule == "parse/syntax"


# Flag-order permutations: the same flags in any position give the same requests.
PERMUTED = [
    (
        ["delete"],
        ["pods", "web"],
        [
            ["-n", "prod"],
            ["--grace-period=0"],
            ["--force"],
            ["--dry-run=server"],
            ["--cascade=orphan"],
        ],
    ),
    (
        ["get"],
        ["pods"],
        [
            ["-l", "app=x"],
            ["-A"],
            ["-o", "wide"],
            ["--field-selector", "status.phase=Running"],
            ["--watch"],
            ["--sort-by", ".metadata.name"],
        ],
    ),
    (["scale"], ["deploy/web"], [["--replicas", "0"], ["-n", "x"], ["--current-replicas=2"]]),
    (
        ["drain"],
        ["node1"],
        [
            ["--ignore-daemonsets"],
            ["--delete-emptydir-data"],
            ["--force"],
            ["--grace-period", "30"],
            ["--pod-selector", "app=x"],
        ],
    ),
    (
        ["label"],
        ["pods", "web", "a=b", "c-"],
        [["--overwrite"], ["-n", "x"], ["--resource-version=5"]],
    ),
    (["taint"], ["nodes", "n1", "k=v:NoExecute"], [["--overwrite"], ["--dry-run"]]),
    (["rollout", "restart"], ["deploy"], [["-l", "app=x"], ["-n", "x"], ["--dry-run=client"]]),
    (
        ["set", "env"],
        ["deploy/web", "A=1", "B-"],
        [["-c", "app"], ["--from", "secret/s"], ["-e", "C=3"], ["-n", "x"]],
    ),
]


def _interleave(positionals: list[str], flags: list[list[str]], order: list[int]) -> list[str]:
    """Place units in ``order``; positionals keep their relative order."""
    units: list[list[str]] = [[word] for word in positionals] + flags
    slots = [units[index] for index in order]
    queue = iter(positionals)
    words: list[str] = []
    for unit in slots:
        is_positional = len(unit) == 1 and unit[0] in positionals and not unit[0].startswith("-")
        words.extend([next(queue)] if is_positional else unit)
    return words


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_flag_order_never_changes_the_requests(data: st.DataObject) -> None:
    for path, positionals, flags in PERMUTED:
        canonical = " ".join([*path, *positionals, *(w for f in flags for w in f)])
        expected = parse_kubectl(canonical)
        order = data.draw(st.permutations(range(len(positionals) + len(flags))))
        command = " ".join([*path, *_interleave(positionals, flags, list(order))])
        assert parse_kubectl(command) == expected, command


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_global_flags_may_come_before_the_sub_command(data: st.DataObject) -> None:
    before = data.draw(st.sampled_from(["-n x", "--namespace=x", "-nx", "--namespace x"]))
    assert parse_kubectl(f"{before} rollout restart deploy/web") == parse_kubectl(
        "rollout restart deploy/web -n x"
    )
