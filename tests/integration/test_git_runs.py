"""GitRunsPublisher against real repositories: file:// and the local smart-HTTP server.

What a user of the runs branch notices: N summaries arrive as one commit by InfraAgent; a
second pass adds nothing; someone else pushing to the branch at the same moment loses
nothing and history stays linear; no other branch ever changes; bad credentials or bad
paths fail clearly, without the token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from git.cmd import Git
from pydantic import SecretStr

from infraagent.adapters.git import GitCredentials, GitRunsPublisher
from infraagent.errors import GitAuthError, GitError, GitPushRejected
from tests.integration.gitserver import (
    GitHttpServer,
    branch_files,
    commit_files,
    git,
    git_http_server,
    make_bare_repo,
    refs_of,
)

__all__ = ["git_http_server"]

BRANCH = "infraagent/runs"
FLEET = {"agents/triage.yaml": "name: triage\n"}
SUMMARIES = {
    f"runs/triage/2026-11-27/triage-{n}.md": f"# triage-{n}\n\noutcome: ok\n" for n in range(3)
}
MESSAGE = "Run summaries\n\nInfraagent-Run: triage-0\nInfraagent-Run: triage-1\n"


def log_of(bare: Path, ref: str) -> list[str]:
    """Commit ids of ``ref``, newest first, first-parent and full history."""
    return git("rev-list", ref, cwd=bare).split()


def parents(bare: Path, commit: str) -> list[str]:
    return git("rev-list", "--parents", "-n", "1", commit, cwd=bare).split()[1:]


def http_publisher(server: GitHttpServer, tmp_path: Path, token: str | None = None):  # type: ignore[no-untyped-def]
    credentials = GitCredentials(username=server.user, token=SecretStr(token or server.token))
    return GitRunsPublisher(
        url=server.url("fleet.git"),
        branch=BRANCH,
        workdir=tmp_path / "runs-cache",
        credentials=credentials,
    )


def test_first_publish_creates_an_orphan_runs_branch_with_one_commit(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    main_before = refs_of(bare)
    publisher = GitRunsPublisher(url=bare.as_uri(), workdir=tmp_path / "cache")

    commit = publisher.publish(SUMMARIES, MESSAGE)

    assert commit is not None
    assert refs_of(bare) == {**main_before, f"refs/heads/{BRANCH}": commit}
    assert branch_files(bare, BRANCH) == SUMMARIES
    assert parents(bare, commit) == []
    show = git("show", "-s", "--format=%an <%ae>|%cn <%ce>|%B", commit, cwd=bare)
    author, committer, body = show.split("|", 2)
    assert author == committer == "InfraAgent <infraagent@users.noreply.infraagent.io>"
    assert body.strip() == MESSAGE.strip()


def test_second_publish_of_the_same_files_makes_no_commit(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    publisher = GitRunsPublisher(url=str(bare), workdir=tmp_path / "cache")
    first = publisher.publish(SUMMARIES, MESSAGE)
    before = publisher.remote_operations

    again = publisher.publish(dict(list(SUMMARIES.items())[:2]), MESSAGE)
    restarted = GitRunsPublisher(url=str(bare), workdir=tmp_path / "cache")

    assert again is None
    assert restarted.publish(SUMMARIES, MESSAGE) is None
    assert log_of(bare, BRANCH) == [first]
    assert publisher.remote_operations == {**before, "ls-remote": before["ls-remote"] + 1}
    assert publisher.publish({}, MESSAGE) is None


def test_new_files_go_on_top_and_keep_the_old_ones(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    publisher = GitRunsPublisher(url=bare.as_uri(), workdir=tmp_path / "cache")
    first = publisher.publish(SUMMARIES, MESSAGE)
    new = {"runs/triage/2026-11-28/triage-9.md": "# triage-9\n"}

    second = publisher.publish({**SUMMARIES, **new}, "one more")

    assert second is not None and parents(bare, second) == [first]
    assert branch_files(bare, BRANCH) == {**SUMMARIES, **new}
    changed = git("diff-tree", "--no-commit-id", "--name-only", "-r", second, cwd=bare).split()
    assert changed == list(new)


def test_existing_runs_branch_made_by_someone_else_is_extended(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    theirs = commit_files(bare, {"runs/README.md": "runs live here\n"}, branch=BRANCH)
    publisher = GitRunsPublisher(url=bare.as_uri(), workdir=tmp_path / "cache")

    commit = publisher.publish(SUMMARIES, MESSAGE)

    assert commit is not None and parents(bare, commit) == [theirs]
    assert branch_files(bare, BRANCH) == {"runs/README.md": "runs live here\n", **SUMMARIES}


@pytest.mark.parametrize("moment", ["receive-pack", "info/refs:git-receive-pack"])
def test_a_concurrent_push_is_survived_without_force(
    git_http_server: GitHttpServer, tmp_path: Path, moment: str
) -> None:
    bare = make_bare_repo(git_http_server.root, "fleet.git", FLEET)
    publisher = http_publisher(git_http_server, tmp_path)
    first = publisher.publish(SUMMARIES, MESSAGE)
    other_refs = {k: v for k, v in refs_of(bare).items() if k != f"refs/heads/{BRANCH}"}
    theirs_file = {"runs/db-check/2026-11-27/db-check-1.md": "# db-check-1\n"}
    ours_file = {"runs/triage/2026-11-27/triage-7.md": "# triage-7\n"}
    pushed: list[str] = []
    git_http_server.before[moment] = lambda: pushed.append(
        commit_files(bare, theirs_file, branch=BRANCH, message="their runs")
    )

    ours = publisher.publish(ours_file, "our runs")

    assert pushed and ours is not None
    assert branch_files(bare, BRANCH) == {**SUMMARIES, **theirs_file, **ours_file}
    assert log_of(bare, BRANCH) == [ours, pushed[0], first]
    assert parents(bare, ours) == [pushed[0]]
    assert {k: v for k, v in refs_of(bare).items() if k != f"refs/heads/{BRANCH}"} == other_refs
    assert publisher.remote_operations["push"] == 3


def test_a_branch_that_keeps_moving_ends_in_push_rejected(
    git_http_server: GitHttpServer, tmp_path: Path
) -> None:
    bare = make_bare_repo(git_http_server.root, "fleet.git", FLEET)
    publisher = http_publisher(git_http_server, tmp_path)
    theirs: list[str] = []

    def someone_else_pushes() -> None:
        n = len(theirs)
        theirs.append(commit_files(bare, {f"runs/x/{n}.md": f"{n}\n"}, branch=BRANCH))
        git_http_server.before["receive-pack"] = someone_else_pushes

    git_http_server.before["receive-pack"] = someone_else_pushes

    with pytest.raises(GitPushRejected) as caught:
        publisher.publish(SUMMARIES, MESSAGE)

    assert len(theirs) == publisher.max_attempts == 5
    assert log_of(bare, BRANCH) == theirs[::-1]  # nothing of theirs was overwritten
    assert caught.value.reason == "PushRejected"
    assert git_http_server.token not in str(caught.value)


def test_wrong_token_is_an_auth_error_without_the_token(
    git_http_server: GitHttpServer, tmp_path: Path
) -> None:
    bare = make_bare_repo(git_http_server.root, "fleet.git", FLEET)
    publisher = http_publisher(git_http_server, tmp_path, token="wrong-token-123")

    with pytest.raises(GitAuthError) as caught:
        publisher.publish(SUMMARIES, MESSAGE)

    assert "wrong-token-123" not in str(caught.value)
    assert f"refs/heads/{BRANCH}" not in refs_of(bare)
    config = (tmp_path / "runs-cache" / "repo" / "config").read_text()
    assert "wrong-token-123" not in config


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../outside.md", "runs/../../x.md", ".git/config", "runs//x.md", ""]
)
def test_paths_outside_the_repository_are_refused(tmp_path: Path, path: str) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    publisher = GitRunsPublisher(url=bare.as_uri(), workdir=tmp_path / "cache")

    with pytest.raises(GitError):
        publisher.publish({path: "x", **SUMMARIES}, MESSAGE)

    assert f"refs/heads/{BRANCH}" not in refs_of(bare)
    assert publisher.remote_operations == {}


def test_unusual_names_and_text_arrive_intact(tmp_path: Path) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    publisher = GitRunsPublisher(url=bare.as_uri(), workdir=tmp_path / "cache")
    odd = {
        'runs/café agent/2026-11-27/run "1".md': "résumé: ✓\n",
        "runs/x/no-newline.md": "last line",
        "runs/x/empty.md": "",
    }

    commit = publisher.publish(odd, "Résumé\n\nInfraagent-Run: café-1\n")

    assert commit is not None
    assert branch_files(bare, BRANCH) == odd
    assert git("log", "-1", "--format=%B", commit, cwd=bare).strip() == (
        "Résumé\n\nInfraagent-Run: café-1"
    )
    assert publisher.publish(odd, "again") is None


def test_token_in_the_url_never_reaches_argv_or_disk(
    git_http_server: GitHttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bare_repo(git_http_server.root, "fleet.git", FLEET)
    token = git_http_server.token
    url = git_http_server.url("fleet.git").replace("http://", f"http://bot-user:{token}@")
    git_http_server.user = "bot-user"
    seen: list[str] = []
    real = Git.execute

    def spy(self: Git, command: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(" ".join(map(str, command)))
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(Git, "execute", spy)
    publisher = GitRunsPublisher(url=url, workdir=tmp_path / "cache")

    assert publisher.publish(SUMMARIES, MESSAGE) is not None
    assert publisher.url == git_http_server.url("fleet.git")
    assert any(" push " in f" {a} " for a in seen)
    assert not [a for a in seen if token in a]
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
