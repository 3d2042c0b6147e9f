"""Objects as documents: YAML (the default for one object), JSON, and ``-o name`` lines."""

from __future__ import annotations

import copy
import json
from typing import Any, Final

import yaml

from infraagent.tools.render._util import as_list, as_map, dig, text

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"


def _clean_object(obj: Any) -> None:
    metadata = dig(obj, "metadata")
    if not isinstance(metadata, dict):
        return
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            del metadata["annotations"]


def clean(response: Any) -> Any:
    """A copy without ``managedFields`` and the last-applied annotation (tokens, not facts)."""
    result = copy.deepcopy(response)
    _clean_object(result)
    for item in as_list(dig(result, "items")):
        _clean_object(item)
    return result


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, as kubectl prints them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(response: Any) -> str:
    out = yaml.dump(
        clean(response),
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return out.removesuffix("...\n").rstrip("\n")


def to_json(response: Any) -> str:
    return json.dumps(clean(response), indent=4, sort_keys=True, ensure_ascii=False)


def group_of(api_version: str) -> str:
    """The API group of ``apps/v1`` (``apps``); the core ``v1`` has none."""
    return api_version.rpartition("/")[0]


def kind_ref(kind: str, group: str) -> str:
    """``deployment.apps`` / ``pod``: how kubectl names a kind in its output."""
    lowered = kind.lower()
    return f"{lowered}.{group}" if group else lowered


def names(response: Any, fallback_kind: str, fallback_group: str) -> str:
    """``-o name``: one ``kind.group/name`` line per object."""
    if isinstance(response, dict) and "items" in response:
        objects = as_list(response.get("items"))
        list_kind = text(response, "kind").removesuffix("List")
        list_group = group_of(text(response, "apiVersion"))
    else:
        objects = [response]
        list_kind, list_group = "", ""
    lines = []
    for obj in objects:
        kind = text(obj, "kind") or list_kind or fallback_kind
        api_version = text(obj, "apiVersion")
        group = group_of(api_version) if api_version else (list_group or fallback_group)
        lines.append(f"{kind_ref(kind, group)}/{text(as_map(obj), 'metadata', 'name')}")
    return "\n".join(lines)
