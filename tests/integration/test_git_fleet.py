"""GitFleetRepository against real repositories: file:// and a local smart-HTTP server with auth.

What a reconciler's user notices: the fleet's files arrive; a poll with nothing new costs one
remote lookup and no transfer; a new commit shows up; bad credentials, a missing branch or a
dead server give the right error while the last good files stay served; the token never
lands on disk, in argv or in an error message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git.cmd
import pytest
from pydantic import SecretStr

from infraagent.adapters.git import GitCredentials, GitFleetRepository
from infraagent.errors import GitAuthError, GitRefNotFound, GitUnreachable
from tests.integration.gitserver import (
    GitHttpServer,
    commit_files,
    git_http_server,
    make_bare_repo,
)

__all__ = ["git_http_server"]

FLEET = {
    "agents/triage.yaml": "name: triage\n",
    "environments/prod.yaml": "name: prod\n",
    "skills/restart/SKILL.md": "# restart\n",
}


def files_of(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def creds(server: GitHttpServer, token: str | None = None) -> GitCredentials:
    return GitCredentials(username=server.user, token=SecretStr(token or server.token))


@pytest.fixture
def served(git_http_server: GitHttpServer) -> Path:
    return make_bare_repo(git_http_server.root, "fleet.git", FLEET)


@pytest.fixture
def argv_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every argv the adapter handed to gitpython."""
    seen: list[str] = []
    real = git.cmd.Git.execute

    def spy(self: git.cmd.Git, command: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(" ".join(map(str, command)))
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(git.cmd.Git, "execute", spy)
    yield seen


def test_file_url_checkout_holds_exactly_the_commits_files(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    repo = GitFleetRepository(url=bare.as_uri(), ref="main", workdir=tmp_path / "cache")
    assert repo.current() is None

    revision = repo.remote_revision()
    snapshot = repo.checkout(revision)

    assert snapshot.revision == revision == commit_id(bare, "main")
    assert files_of(snapshot.root) == FLEET
    assert repo.current() == snapshot
    assert repo.remote_operations == {"ls-remote": 1, "clone": 1}


def test_local_path_and_new_commit_replace_the_snapshot(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    repo = GitFleetRepository(url=str(bare), ref="main", workdir=tmp_path / "cache")
    first = repo.checkout(repo.remote_revision())

    commit_files(bare, {"agents/new.yaml": "name: new\n"}, delete=("agents/triage.yaml",))
    second = repo.checkout(repo.remote_revision())

    expected = {k: v for k, v in FLEET.items() if k != "agents/triage.yaml"}
    assert files_of(second.root) == {**expected, "agents/new.yaml": "name: new\n"}
    assert second.revision != first.revision
    assert repo.remote_operations == {"ls-remote": 2, "clone": 1, "fetch": 1}


def commit_id(bare: Path, branch: str) -> str:
    from tests.integration.gitserver import git as run_git

    return run_git("rev-parse", f"refs/heads/{branch}", cwd=bare).strip()


def test_noop_poll_is_one_lookup_and_no_transfer(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    repo = GitFleetRepository(
        url=git_http_server.url("fleet.git"),
        ref="main",
        workdir=tmp_path / "cache",
        credentials=creds(git_http_server),
    )
    first = repo.checkout(repo.remote_revision())
    git_http_server.reset_counts()
    before = repo.remote_operations

    revision = repo.remote_revision()
    again = repo.checkout(revision)

    assert again == first
    assert dict(git_http_server.counts) == {"info/refs": 1, "ls-refs": 1}
    after = repo.remote_operations
    assert after == {**before, "ls-remote": before["ls-remote"] + 1}


def test_new_commit_over_http_is_fetched_not_recloned(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    repo = GitFleetRepository(
        git_http_server.url("fleet.git"), "main", tmp_path / "cache", creds(git_http_server)
    )
    first = repo.checkout(repo.remote_revision())
    new = commit_files(served, {"agents/db-check.yaml": "name: db-check\n"})
    git_http_server.reset_counts()

    snapshot = repo.checkout(repo.remote_revision())

    assert snapshot.revision == new
    assert files_of(snapshot.root) == {**FLEET, "agents/db-check.yaml": "name: db-check\n"}
    assert git_http_server.counts["fetch"] == 1
    assert repo.remote_operations == {"ls-remote": 2, "clone": 1, "fetch": 1}
    assert not first.root.exists()


def test_wrong_token_is_an_auth_error_and_the_last_snapshot_stays(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    repo = GitFleetRepository(
        git_http_server.url("fleet.git"), "main", tmp_path / "cache", creds(git_http_server)
    )
    good = repo.checkout(repo.remote_revision())
    old_token = git_http_server.token
    git_http_server.token = "rotated-" + old_token
    new = commit_files(served, {"agents/late.yaml": "x: 1\n"})

    with pytest.raises(GitAuthError) as lookup:
        repo.remote_revision()
    with pytest.raises(GitAuthError) as fetch:
        repo.checkout(new)

    assert repo.current() == good
    assert files_of(good.root) == FLEET
    for error in (lookup.value, fetch.value):
        assert old_token not in str(error)
        assert git_http_server.url("fleet.git") in str(error)
        assert error.reason == "AuthenticationFailed"

    git_http_server.token = old_token
    assert repo.checkout(repo.remote_revision()).revision == new


def test_missing_branch_and_missing_repository_are_ref_not_found(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    token = creds(git_http_server)
    missing_branch = GitFleetRepository(
        git_http_server.url("fleet.git"), "release", tmp_path / "a", token
    )
    missing_repo = GitFleetRepository(
        git_http_server.url("nothing.git"), "main", tmp_path / "b", token
    )
    missing_path = GitFleetRepository((tmp_path / "gone").as_uri(), "main", tmp_path / "c")

    for repo in (missing_branch, missing_repo, missing_path):
        with pytest.raises(GitRefNotFound) as caught:
            repo.remote_revision()
        assert caught.value.reason == "RefNotFound"
        assert repo.current() is None


def test_unknown_commit_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    repo = GitFleetRepository(bare.as_uri(), "main", tmp_path / "cache")
    good = repo.checkout(repo.remote_revision())

    with pytest.raises(GitRefNotFound):
        repo.checkout("0123456789abcdef0123456789abcdef01234567")

    assert repo.current() == good
    assert files_of(good.root) == FLEET


def test_stopped_server_is_unreachable_and_the_last_snapshot_stays(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    repo = GitFleetRepository(
        git_http_server.url("fleet.git"), "main", tmp_path / "cache", creds(git_http_server)
    )
    good = repo.checkout(repo.remote_revision())
    git_http_server.stop()

    with pytest.raises(GitUnreachable) as caught:
        repo.remote_revision()

    assert caught.value.reason == "RemoteUnreachable"
    assert repo.current() == good
    assert files_of(good.root) == FLEET


def test_token_never_reaches_argv_disk_or_errors(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path, argv_seen: list[str]
) -> None:
    token = git_http_server.token
    in_url = git_http_server.url("fleet.git").replace(
        "http://", f"http://{git_http_server.user}:{token}@"
    )
    cache = tmp_path / "cache"
    repo = GitFleetRepository(url=in_url, ref="main", workdir=cache)

    snapshot = repo.checkout(repo.remote_revision())
    git_http_server.token = "rotated"
    with pytest.raises(GitAuthError) as caught:
        repo.remote_revision()

    assert files_of(snapshot.root) == FLEET
    assert git_http_server.counts["unauthorized"] == 1  # only the rotated-token attempt
    assert argv_seen and not [a for a in argv_seen if token in a]
    assert token not in str(caught.value) and token not in repr(caught.value)
    assert repo.url == git_http_server.url("fleet.git")
    assert (cache / "repo" / "config").read_text().count(git_http_server.url("fleet.git")) == 1
    for path in cache.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_restart_serves_the_last_snapshot_without_remote_calls(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    first = GitFleetRepository(bare.as_uri(), "main", tmp_path / "cache")
    snapshot = first.checkout(first.remote_revision())

    restarted = GitFleetRepository(bare.as_uri(), "main", tmp_path / "cache")

    assert restarted.current() == snapshot
    assert restarted.checkout(snapshot.revision) == snapshot
    assert restarted.remote_operations == {}


def test_pinned_commit_and_tag_refs(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    from tests.integration.gitserver import git as run_git

    pinned = commit_id(served, "main")
    commit_files(served, {"agents/after.yaml": "x: 1\n"})
    run_git("tag", "-a", "-m", "release", "v1", pinned, cwd=served)
    token = creds(git_http_server)

    by_commit = GitFleetRepository(git_http_server.url("fleet.git"), pinned, tmp_path / "a", token)
    by_tag = GitFleetRepository(git_http_server.url("fleet.git"), "v1", tmp_path / "b", token)

    assert by_commit.remote_revision() == pinned
    assert by_commit.remote_operations == {}
    assert files_of(by_commit.checkout(pinned).root) == FLEET
    assert by_tag.remote_revision() == pinned
    assert files_of(by_tag.checkout(pinned).root) == FLEET


def test_old_protocol_server_serves_the_tip_and_refuses_a_stale_commit_cleanly(
    git_http_server: GitHttpServer, served: Path, tmp_path: Path
) -> None:
    git_http_server.protocol_v2 = False
    repo = GitFleetRepository(
        git_http_server.url("fleet.git"), "main", tmp_path / "cache", creds(git_http_server)
    )
    good = repo.checkout(repo.remote_revision())
    stale = commit_files(served, {"agents/a.yaml": "a\n"})
    tip = commit_files(served, {"agents/b.yaml": "b\n"})

    with pytest.raises(GitRefNotFound):
        repo.checkout(stale)  # no longer advertised: a v0 server will not send it

    assert repo.current() == good
    assert files_of(good.root) == FLEET
    assert repo.checkout(repo.remote_revision()).revision == tip
    assert git_http_server.counts["ls-refs"] == 0


def test_a_symlink_in_the_fleet_never_exposes_a_host_file(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("operator token\n")
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    commit_files(bare, {}, symlinks={"skills/leak/SKILL.md": str(secret)})
    repo = GitFleetRepository(bare.as_uri(), "main", tmp_path / "cache")

    snapshot = repo.checkout(repo.remote_revision())

    link = snapshot.root / "skills/leak/SKILL.md"
    assert not link.is_symlink()
    assert link.read_text() == str(secret)
