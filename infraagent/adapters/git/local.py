"""Local repositories for the main job: a bare clone to work against, and what a branch holds.

When the main job is pointed at a folder (by default this repository), it does not write to
that folder's own branches: ``clone_bare`` makes a bare clone of its committed state, which
the reconciler reads and the runs publisher pushes to. ``current_branch`` names the branch a
working folder has checked out (None when detached), and ``branch_files`` lists what the
last commit of a branch added, for the main job's report.

Deliberately not here: fetching or publishing with credentials (``fleet``, ``runs``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from git import Blob, Repo
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from infraagent.errors import GitError, GitRefNotFound


@dataclass(frozen=True, slots=True)
class BranchTip:
    """The last commit of a branch: its id, subject, and the files it added or changed."""

    commit: str
    subject: str
    files: tuple[str, ...]


def clone_bare(source: Path, destination: Path) -> None:
    """Replace ``destination`` with a fresh bare clone of the repository at ``source``."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        Repo.clone_from(str(source), str(destination), bare=True, no_hardlinks=True)
    except (GitCommandError, NoSuchPathError, InvalidGitRepositoryError) as err:
        raise GitRefNotFound(f"{source} is not a Git repository with commits") from err


def current_branch(folder: Path) -> str | None:
    """The branch checked out in ``folder``; None when detached or not a repository."""
    try:
        repo = Repo(str(folder), search_parent_directories=False)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None
    with repo:
        if repo.head.is_detached:
            return None
        return str(repo.active_branch.name)


def branch_files(repository: Path, branch: str) -> BranchTip | None:
    """The tip of ``branch`` in ``repository`` (bare or not); None when the branch is missing."""
    try:
        repo = Repo(str(repository))
    except (InvalidGitRepositoryError, NoSuchPathError) as err:
        raise GitError(f"{repository} is not a Git repository") from err
    with repo:
        if branch not in {head.name for head in repo.heads}:
            return None
        commit = repo.commit(f"refs/heads/{branch}")
        subject = str(commit.message).splitlines()[0] if commit.message else ""
        if commit.parents:
            changed = [d.b_path or d.a_path or "" for d in commit.parents[0].diff(commit)]
        else:
            changed = [str(item.path) for item in commit.tree.traverse() if isinstance(item, Blob)]
        return BranchTip(commit.hexsha, subject, tuple(sorted(p for p in changed if p)))
