"""Shared vocabulary of the custom-resource models: the base model, names, durations, globs,
object metadata and ``metav1.Condition``.

Validators here return plain sentences, because their messages reach users of
``infraagent validate`` and of the reconciler's status. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

API_GROUP: Final = "core.infraagent.io"
API_VERSION: Final = "v1alpha1"
GROUP_VERSION: Final = f"{API_GROUP}/{API_VERSION}"


class FieldPathError(ValueError):
    """A validation error about a field below the one being validated.

    ``path`` continues the location pydantic reports (list indexes and keys), so messages
    can point at the exact entry, such as the second of two duplicate action ids.
    """

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


def error_location(error: Mapping[str, Any]) -> tuple[str | int, ...]:
    """The full location of one pydantic error, extended by a ``FieldPathError``'s path."""
    cause = (error.get("ctx") or {}).get("error")
    extra = cause.path if isinstance(cause, FieldPathError) else ()
    return (*error["loc"], *extra)


class Model(BaseModel):
    """Base of every model: immutable, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


# ----------------------------------------------------------------------------- names

DNS_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN_PATTERN)


def dns_label_problem(value: str) -> str | None:
    """A sentence saying why ``value`` is not a DNS-1123 label, or None."""
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not _DNS_LABEL.match(value):
        return (
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit)"
        )
    return None


def _check_label(value: str) -> str:
    problem = dns_label_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')"
        )
    return value


DnsLabel = Annotated[
    str,
    AfterValidator(_check_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS_LABEL_PATTERN}),
]
"""A DNS-1123 label: the name of an object we reference, a skill or an action id."""

DnsSubdomain = Annotated[
    str,
    AfterValidator(_check_subdomain),
    WithJsonSchema({"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN_PATTERN}),
]

# ------------------------------------------------------------------------- durations

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration (``300s``, ``5m``, ``1h30m``, ``500ms``) into a timedelta.

    Raises ``ValueError`` with a plain sentence for anything else (``1d``, ``-5m``, ``5``).
    """
    if text == "0":
        return timedelta(0)
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"{text!r} is not a duration; write a number with a unit, "
            "for example 300s, 5m, 1h30m or 500ms (units: ns us ms s m h; no days)"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a timedelta as a Go duration, such as ``1h30m`` or ``45s``."""
    total = round(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{seconds}s" if seconds or not text else "")


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$"}),
]
"""A Go duration string; the string is kept as written so round trips are exact."""


def bounded_duration(low: timedelta, high: timedelta) -> AfterValidator:
    """A validator that keeps a duration between ``low`` and ``high`` inclusive."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        parsed = parse_duration(value)
        if not low <= parsed <= high:
            raise ValueError(
                f"{value!r} is outside the allowed range "
                f"{format_duration(low)} to {format_duration(high)}"
            )
        return value

    return AfterValidator(check)


# ----------------------------------------------------------------------------- globs


def glob_problem(pattern: str) -> str | None:
    """A sentence saying why ``pattern`` is not a usable glob, or None.

    Globs use ``*`` (any run of characters), ``?`` (one character) and ``[...]`` classes.
    """
    if not pattern:
        return "a glob must not be empty"
    if pattern != pattern.strip() or any(c in pattern for c in "\n\r\t"):
        return f"glob {pattern!r} has leading, trailing or control whitespace"
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                return f"glob {pattern!r} nests '[' inside a character class"
            depth = 1
        elif char == "]" and depth:
            depth = 0
    if depth:
        return f"glob {pattern!r} has an unclosed '['"
    if "[]" in pattern:
        return f"glob {pattern!r} has an empty character class '[]'"
    return None


def _check_glob(value: str) -> str:
    problem = glob_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Glob = Annotated[
    str,
    AfterValidator(_check_glob),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 253}),
]

# -------------------------------------------------------------------------- metadata


class ObjectMeta(Model):
    """The subset of Kubernetes object metadata a definition may carry.

    Server-set fields are accepted so objects read back from a cluster parse too.
    """

    name: DnsSubdomain | None = Field(None, description="Object name (DNS-1123).")
    generateName: str | None = Field(None, description="Prefix for a server-generated name.")
    namespace: DnsLabel | None = Field(None, description="Namespace of a namespaced object.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    uid: str | None = Field(None, description="Server-assigned unique id.")
    resourceVersion: str | None = Field(None, description="Server-assigned version.")
    generation: int | None = Field(None, description="Server-assigned spec generation.")
    creationTimestamp: datetime | None = Field(None, description="Creation time.")
    deletionTimestamp: datetime | None = Field(None, description="Deletion time.")
    deletionGracePeriodSeconds: int | None = Field(None, description="Grace period.")
    finalizers: list[str] = Field(default_factory=list, description="Finalizers.")
    ownerReferences: list[dict[str, Any]] = Field(
        default_factory=list, description="Owner references."
    )
    managedFields: list[dict[str, Any]] = Field(
        default_factory=list, description="Server-side apply field ownership."
    )


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """A ``metav1.Condition``: one aspect of an object's state."""

    type: str = Field(
        description="Condition type, in CamelCase (Ready, Reconciling, Stalled, ...).",
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observedGeneration: int | None = Field(
        None, ge=0, description="The .metadata.generation the condition was set from."
    )
    lastTransitionTime: datetime = Field(
        description="When the condition last changed from one status to another."
    )
    reason: str = Field(
        description="A CamelCase reason for the last transition.",
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = Field(
        "", max_length=32768, description="A human-readable message about the transition."
    )


CONDITIONS_SCHEMA_EXTRA: Final[dict[str, Any]] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


def conditions_field() -> Any:
    """A ``conditions`` list field, keyed by condition type."""
    return Field(
        default_factory=list,
        max_length=16,
        description="Standard conditions (metav1.Condition), keyed by type.",
        json_schema_extra=CONDITIONS_SCHEMA_EXTRA,
    )
