"""Credentials for Git remotes and the environment that hands them to ``git`` safely.

- ``GitCredentials``: an HTTPS username + token, or an SSH private key (+ known_hosts).
- ``safe_url``: a URL without its user-info, fit for messages, logs and ``.git/config``.
- ``split_url_credentials``: moves a ``https://user:token@host/...`` password out of the URL.
- ``GitEnv``: a context manager building the environment for one ``git`` command.

How a secret travels: an HTTPS token becomes an ``Authorization`` header set through
``GIT_CONFIG_COUNT`` / ``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n`` (environment, scoped to
the remote's scheme, host and port), so it is never in argv, never in a stored remote URL and
never given to a credential helper. An SSH key is written to a 0600 file in a private
temporary directory and ``GIT_SSH`` points at a small wrapper that execs ``ssh`` with an
argument list (``ssh_argv``): no shell ever sees a user value. ``GIT_TERMINAL_PROMPT=0`` and
an empty ``GIT_ASKPASS`` make git fail instead of waiting for input.

Deliberately not here: running git (``fleet`` and ``runs`` do) and reading Kubernetes
Secrets (the caller passes their data to ``GitCredentials.from_secret_data``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

_WRAPPER_ENV = "INFRAAGENT_GIT_SSH_ARGV"
_WRAPPER_SOURCE = f"""import json, os, sys
argv = json.loads(os.environ[{_WRAPPER_ENV!r}])
os.execvp(argv[0], argv + sys.argv[1:])
"""


class GitCredentials(BaseModel):
    """How to authenticate to a Git remote: HTTPS token, or SSH private key.

    ``username`` goes with ``token`` (HTTP Basic; most forges accept any non-empty name with a
    personal access token). ``ssh_private_key`` is the key text (OpenSSH or PEM);
    ``known_hosts`` the lines accepted for the server (strict checking is always on; without
    them ssh uses the user's own known_hosts).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = "x-access-token"
    token: SecretStr | None = None
    ssh_private_key: SecretStr | None = None
    known_hosts: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GitCredentials:
        if self.token is not None and self.ssh_private_key is not None:
            raise ValueError("give either an HTTPS token or an SSH private key, not both")
        if self.token is None and self.ssh_private_key is None:
            raise ValueError("credentials need an HTTPS token or an SSH private key")
        return self

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str | bytes]) -> GitCredentials:
        """Reads Flux-style Secret keys: ``username`` + ``password`` (or ``token``), or
        ``identity`` (SSH private key) + optional ``known_hosts``. Values may be bytes."""

        def text(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            return value.decode() if isinstance(value, bytes) else value

        token = text("password") or text("token")
        key = text("identity")
        return cls(
            username=text("username") or "x-access-token",
            token=SecretStr(token) if token else None,
            ssh_private_key=SecretStr(key) if key else None,
            known_hosts=text("known_hosts"),
        )


def _is_url(url: str) -> bool:
    return "://" in url


def safe_url(url: str) -> str:
    """``url`` without user-info (``https://user:tok@host/x`` → ``https://host/x``)."""
    if not _is_url(url):
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(SplitResult(parts.scheme, host, parts.path, parts.query, parts.fragment))


def split_url_credentials(
    url: str, credentials: GitCredentials | None
) -> tuple[str, GitCredentials | None]:
    """Returns the URL to give git and the credentials to use.

    A password embedded in an http(s) URL becomes the token (unless credentials were given
    explicitly), so it never reaches argv or ``.git/config``. ``ssh://user@host`` keeps its
    user: that is the SSH login, not a secret.
    """
    if not _is_url(url):
        return url, credentials
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, credentials
    userinfo = parts.netloc.rsplit("@", 1)[0]
    user, _, password = userinfo.partition(":")
    if credentials is None and password:
        credentials = GitCredentials(username=unquote(user), token=SecretStr(unquote(password)))
    return safe_url(url), credentials


def _header_scope(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def ssh_argv(key_file: Path, known_hosts_file: Path | None) -> list[str]:
    """The ``ssh`` command line the ``GIT_SSH`` wrapper runs (git appends host and command)."""
    argv = [
        "ssh",
        "-i",
        str(key_file),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    if known_hosts_file is not None:
        argv += ["-o", f"UserKnownHostsFile={known_hosts_file}"]
    return argv


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def _ssh_env(creds: GitCredentials, tmp: Path) -> dict[str, str]:
    assert creds.ssh_private_key is not None
    key_file = tmp / "identity"
    _write_private(key_file, creds.ssh_private_key.get_secret_value())
    hosts_file = None
    if creds.known_hosts:
        hosts_file = tmp / "known_hosts"
        _write_private(hosts_file, creds.known_hosts)
    wrapper = tmp / "ssh-wrapper"
    wrapper.write_text(f"#!{sys.executable}\n{_WRAPPER_SOURCE}")
    wrapper.chmod(stat.S_IRWXU)
    return {
        "GIT_SSH": str(wrapper),
        "GIT_SSH_VARIANT": "ssh",
        _WRAPPER_ENV: json.dumps(ssh_argv(key_file, hosts_file)),
    }


def _http_env(creds: GitCredentials, url: str) -> dict[str, str]:
    assert creds.token is not None
    pair = f"{creds.username}:{creds.token.get_secret_value()}".encode()
    header = "Authorization: Basic " + base64.b64encode(pair).decode()
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": f"http.{_header_scope(url)}.extraHeader",
        "GIT_CONFIG_VALUE_1": header,
    }


@contextmanager
def git_env(url: str, credentials: GitCredentials | None) -> Iterator[dict[str, str]]:
    """The environment for git commands talking to ``url``; temporary files are removed
    on exit. ``url`` must already be free of user-info (``split_url_credentials``)."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    if credentials is None:
        yield env
        return
    if credentials.token is not None:
        yield {**env, **_http_env(credentials, url)}
        return
    tmp = Path(tempfile.mkdtemp(prefix="infraagent-ssh-"))
    try:
        yield {**env, **_ssh_env(credentials, tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def secrets_of(credentials: GitCredentials | None) -> tuple[str, ...]:
    """The secret strings to scrub from any text that leaves the adapter."""
    if credentials is None or credentials.token is None:
        return ()
    token = credentials.token.get_secret_value()
    pair = f"{credentials.username}:{token}".encode()
    return (token, base64.b64encode(pair).decode())
