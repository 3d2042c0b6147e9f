"""Skill references: where an agent's skills come from.

Accepted forms of ``source``:

- ``repo`` (the default): the folder ``skills/<name>/`` of the fleet repository;
- ``configmap://<name>[/<key>]``: a ConfigMap in the agent's namespace;
- ``git://<host>/<org>/<repo>[#<path>][@<ref>]``: a folder of another Git repository.

Everything else is rejected with a sentence, including the original's ``bundled`` stub and
its bare ``configmap`` form. Path traversal is rejected in every form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import Field, field_validator

from infraagent.models.common import DnsLabel, Model, dns_label_problem

_HOST: Final = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$"
)
_SEGMENT: Final = re.compile(r"^[A-Za-z0-9._-]+$")
_REF: Final = re.compile(r"^[A-Za-z0-9._/-]+$")
_CONFIGMAP_KEY: Final = re.compile(r"^[-._A-Za-z0-9]+$")


@dataclass(frozen=True)
class ParsedSource:
    """A skill source, split into its parts."""

    kind: Literal["repo", "configmap", "git"]
    configmap: str | None = None
    key: str | None = None
    host: str | None = None
    org: str | None = None
    repo: str | None = None
    path: str | None = None
    ref: str | None = None

    @property
    def clone_url(self) -> str | None:
        """The HTTPS clone URL of a git source."""
        if self.kind != "git":
            return None
        return f"https://{self.host}/{self.org}/{self.repo}"


def _check_relative_path(path: str, what: str) -> None:
    if not path or path.startswith("/") or "\\" in path:
        raise ValueError(f"{what} {path!r} must be a relative path inside the repository")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(
                f"{what} {path!r} must not contain empty, '.' or '..' segments "
                "(path traversal is not allowed)"
            )
        if not _SEGMENT.match(part):
            raise ValueError(f"{what} {path!r} has a segment with unsupported characters")


def _parse_configmap(rest: str) -> ParsedSource:
    name, _, key = rest.partition("/")
    problem = dns_label_problem(name)
    if problem:
        raise ValueError(f"configmap source: the ConfigMap name {problem}")
    if key and (not _CONFIGMAP_KEY.match(key) or key in (".", "..")):
        raise ValueError(
            f"configmap source: the key {key!r} is not a valid ConfigMap key "
            "(letters, digits, '-', '_' and '.'; no '/')"
        )
    return ParsedSource(kind="configmap", configmap=name, key=key or "SKILL.md")


def _parse_git(rest: str) -> ParsedSource:
    location, at, ref = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if at and (not ref or not _REF.match(ref) or ".." in ref or ref.startswith("-")):
        raise ValueError(f"git source: {ref!r} is not a valid ref (branch, tag or commit)")
    location, _, path = location.partition("#")
    parts = location.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"git source: expected git://<host>/<org>/<repo>[#<path>][@<ref>], got 'git://{rest}'"
        )
    host, org, repo = parts
    if not _HOST.match(host):
        raise ValueError(f"git source: {host!r} is not a host name")
    for segment in (org, repo):
        if not _SEGMENT.match(segment) or segment in (".", ".."):
            raise ValueError(f"git source: {segment!r} is not a valid organisation or repository")
    if "#" in location or (path == "" and "#" in rest):
        raise ValueError("git source: the '#<path>' part is empty")
    if path:
        _check_relative_path(path, "git source path")
    return ParsedSource(
        kind="git", host=host, org=org, repo=repo, path=path or None, ref=ref or None
    )


def parse_skill_source(source: str) -> ParsedSource:
    """Parse a ``SkillRef.source``; raise ``ValueError`` with a sentence when malformed."""
    if source == "repo":
        return ParsedSource(kind="repo")
    if source.startswith("configmap://"):
        return _parse_configmap(source.removeprefix("configmap://"))
    if source.startswith("git://"):
        return _parse_git(source.removeprefix("git://"))
    if source == "bundled":
        raise ValueError(
            "source 'bundled' was a stub in the original (it returned placeholder instructions "
            "and no Action Sheet); put the skill in skills/<name>/ and use source 'repo'"
        )
    if source == "configmap":
        raise ValueError(
            "source 'configmap' read a ConfigMap literally named 'configmap' in the original; "
            "write configmap://<configmap-name>[/<key>]"
        )
    raise ValueError(
        f"unknown skill source {source!r}; use 'repo', configmap://<name>[/<key>] or "
        "git://<host>/<org>/<repo>[#<path>][@<ref>]"
    )


class SkillRef(Model):
    """A reference to one skill: instructions plus an Action Sheet."""

    name: DnsLabel = Field(
        description="Skill name; for source 'repo', the folder skills/<name>/ of the fleet."
    )
    source: str = Field(
        "repo",
        max_length=512,
        description=(
            "Where the skill comes from: 'repo' (default, skills/<name>/ of the fleet "
            "repository), configmap://<name>[/<key>] in the agent's namespace, or "
            "git://<host>/<org>/<repo>[#<path>][@<ref>]."
        ),
    )

    @field_validator("source")
    @classmethod
    def _valid_source(cls, value: str) -> str:
        parse_skill_source(value)
        return value

    @property
    def parsed_source(self) -> ParsedSource:
        """The source split into its parts."""
        return parse_skill_source(self.source)
