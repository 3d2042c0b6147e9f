"""Git credentials, the SSH wrapper and error classification, with real git processes.

There is no SSH server in the test environment: the SSH tests put a stand-in ``ssh`` on
``PATH`` that records the argv and key it was given and answers like a server refusing the
key, so they prove what git runs (through our ``GIT_SSH`` wrapper) and how the refusal is
reported, not an SSH handshake.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from infraagent.adapters.git import GitCredentials, GitFleetRepository
from infraagent.adapters.git.auth import git_env, safe_url, split_url_credentials, ssh_argv
from infraagent.adapters.git.failures import classify
from infraagent.errors import GitAuthError, GitError, GitRefNotFound, GitUnreachable

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----"
FAKE_SSH = """
import json, os, sys
argv = sys.argv[1:]
key = argv[argv.index("-i") + 1]
hosts = [a.split("=", 1)[1] for a in argv if a.startswith("UserKnownHostsFile=")]
record = {
    "argv": argv,
    "key": open(key).read(),
    "key_mode": oct(os.stat(key).st_mode & 0o777),
    "known_hosts": open(hosts[0]).read() if hosts else None,
}
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
sys.stderr.write("git@example.invalid: Permission denied (publickey).\\n")
sys.exit(255)
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(f"#!{sys.executable}\n{FAKE_SSH}")
    ssh.chmod(stat.S_IRWXU)
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    return log


def test_ssh_key_goes_through_the_wrapper_as_an_argv_list(fake_ssh: Path, tmp_path: Path) -> None:
    hosts = "example.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey $(touch pwned)"
    credentials = GitCredentials(ssh_private_key=SecretStr(KEY), known_hosts=hosts)
    repo = GitFleetRepository(
        "ssh://git@example.invalid:2222/org/fleet.git", "main", tmp_path / "cache", credentials
    )

    with pytest.raises(GitAuthError) as caught:
        repo.remote_revision()

    record = json.loads(fake_ssh.read_text().splitlines()[0])
    argv = record["argv"]
    assert argv[:2] == ["-i", argv[1]]
    assert argv[2:10] == [
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
    ]  # fmt: skip
    assert argv[10] == "-o" and argv[11].startswith("UserKnownHostsFile=")
    assert argv[-4:-1] == ["-p", "2222", "git@example.invalid"]  # git's own part follows ours
    assert argv[-1].startswith("git-upload-pack") and "/org/fleet.git" in argv[-1]
    assert record["key"] == KEY + "\n"
    assert record["key_mode"] == "0o600"
    assert record["known_hosts"] == hosts + "\n"
    assert not Path(argv[1]).exists()  # the key file is removed after the command
    assert not (tmp_path / "cache" / "pwned").exists()
    assert "ssh://git@example.invalid:2222/org/fleet.git" not in str(caught.value)
    assert "ssh://example.invalid:2222/org/fleet.git" in str(caught.value)


def test_scp_style_url_uses_the_same_wrapper(fake_ssh: Path, tmp_path: Path) -> None:
    credentials = GitCredentials(ssh_private_key=SecretStr(KEY))
    repo = GitFleetRepository("git@example.invalid:org/fleet.git", "main", tmp_path, credentials)

    with pytest.raises(GitAuthError):
        repo.remote_revision()

    argv = json.loads(fake_ssh.read_text().splitlines()[0])["argv"]
    assert not [a for a in argv if a.startswith("UserKnownHostsFile=")]
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[-2] == "git@example.invalid"


def test_ssh_argv_without_known_hosts_keeps_strict_checking() -> None:
    argv = ssh_argv(Path("k"), None)
    assert argv[0] == "ssh" and argv[1:3] == ["-i", "k"]
    assert "StrictHostKeyChecking=yes" in argv
    assert not [a for a in argv if "UserKnownHostsFile" in a]


def test_https_token_env_is_scoped_to_the_host_and_not_in_a_url() -> None:
    credentials = GitCredentials(username="bot", token=SecretStr("s3cret"))
    with git_env("https://git.example.invalid:8443/org/fleet.git", credentials) as env:
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert env["GIT_CONFIG_KEY_0"] == "credential.helper"
        assert env["GIT_CONFIG_KEY_1"] == "http.https://git.example.invalid:8443/.extraHeader"
        assert env["GIT_CONFIG_VALUE_1"] == "Authorization: Basic Ym90OnMzY3JldA=="
        assert not [v for v in env.values() if "s3cret" in v]


def test_credentials_from_secret_data_and_their_repr() -> None:
    https = GitCredentials.from_secret_data({"username": b"bot", "password": b"s3cret"})
    ssh = GitCredentials.from_secret_data({"identity": KEY, "known_hosts": "h k"})

    assert https.username == "bot" and https.token is not None
    assert https.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(https) and "not-a-real-key" not in repr(ssh)
    assert ssh.ssh_private_key is not None and ssh.known_hosts == "h k"
    with pytest.raises(ValidationError):
        GitCredentials.from_secret_data({"username": "bot"})
    with pytest.raises(ValidationError):
        GitCredentials(token=SecretStr("t"), ssh_private_key=SecretStr(KEY))


def test_urls_lose_their_user_info() -> None:
    url, credentials = split_url_credentials("https://bot:s3cret@host.invalid/x.git", None)
    assert url == "https://host.invalid/x.git"
    assert credentials is not None and credentials.token is not None
    assert credentials.token.get_secret_value() == "s3cret"
    assert safe_url("ssh://git@host.invalid/x.git") == "ssh://host.invalid/x.git"
    assert safe_url("git@host.invalid:x.git") == "git@host.invalid:x.git"
    assert split_url_credentials("ssh://git@h/x", None) == ("ssh://git@h/x", None)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("remote: Invalid username or password.\nfatal: Authentication failed for 'https://h/'",
         GitAuthError),
        ("fatal: could not read Username for 'https://h': terminal prompts disabled",
         GitAuthError),
        ("fatal: unable to access 'https://h/x/': The requested URL returned error: 403",
         GitAuthError),
        ("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.",
         GitAuthError),
        ("remote: Repository not found.\nfatal: repository 'https://h/x/' not found",
         GitRefNotFound),
        ("fatal: '/srv/x' does not appear to be a git repository", GitRefNotFound),
        ("fatal: couldn't find remote ref refs/heads/nope", GitRefNotFound),
        ("fatal: unable to access 'https://h/': Could not resolve host: h", GitUnreachable),
        ("ssh: connect to host h port 22: Connection refused", GitUnreachable),
        ("fatal: unable to access 'https://h/': Failed to connect to h port 443: Connection "
         "timed out", GitUnreachable),
        ("error: process killed because it timed out. kill_after_timeout=5 seconds",
         GitUnreachable),
        ("fatal: bad object HEAD", GitError),
    ],
)  # fmt: skip
def test_git_failures_are_classified(stderr: str, expected: type[GitError]) -> None:
    error = classify("fetch", "https://bot:s3cret@h/x.git", stderr, secrets=("s3cret",))
    assert type(error) is expected
    assert "s3cret" not in str(error) and "bot" not in str(error)
    assert str(error).startswith("git fetch https://h/x.git failed: " + expected.reason)


def test_secrets_in_git_output_are_scrubbed_from_errors() -> None:
    stderr = "fatal: unable to access 'https://bot:s3cret@h/x/': Could not resolve host: h"
    error = classify("ls-remote", "https://h/x", stderr, secrets=("s3cret",))
    assert isinstance(error, GitUnreachable)
    assert "s3cret" not in str(error) and "bot@" not in str(error)
