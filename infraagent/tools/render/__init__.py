"""Kubernetes API responses formatted for the model, the way kubectl prints them.

Pure: no I/O and no clock (the current time for AGE columns is the ``now`` parameter).

- ``render_result``: a list becomes kubectl's table for its kind (pods, deployments,
  statefulsets, replicasets, daemonsets, services, nodes, events; ``NAME AGE`` for any
  other kind; a ``NAMESPACE`` column with ``-A``); one object becomes YAML without
  ``managedFields`` or the last-applied annotation; ``output`` ``yaml``/``json``/``name``/
  ``wide`` as kubectl's ``-o``; logs pass through unchanged; mutations become kubectl's
  confirmations (``deployment.apps/web restarted``, ``pod "x" deleted``).
- ``render_error``: an API error as a tool result, ``Error from server (Forbidden): ...``.

Trimming to the tool-output budget and redaction happen after rendering, not here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from infraagent.models.requests import READ_VERBS, KubeRequest
from infraagent.tools.render._util import as_list, dig, text
from infraagent.tools.render.age import human_duration, since
from infraagent.tools.render.confirm import confirmation
from infraagent.tools.render.documents import names, to_json, to_yaml
from infraagent.tools.render.errors import render_error
from infraagent.tools.render.kinds import list_kind, singular
from infraagent.tools.render.tables import list_table, server_table

__all__ = ["human_duration", "render_error", "render_result", "since"]

OUTPUTS = frozenset({"yaml", "json", "name", "wide"})


def _empty(request: KubeRequest) -> str:
    if request.namespace and not request.all_namespaces:
        return f"No resources found in {request.namespace} namespace."
    return "No resources found"


def _document(request: KubeRequest, response: Any, output: str) -> str:
    if output == "json":
        return to_json(response)
    if output == "name":
        return names(response, singular(request.resource), request.group or "")
    return to_yaml(response)


def _read(request: KubeRequest, response: Any, output: str | None, now: datetime) -> str:
    wide = output == "wide"
    if text(response, "kind") == "Table":
        if not as_list(dig(response, "rows")):
            return _empty(request)
        return server_table(response, wide=wide)
    is_list = isinstance(response, dict) and isinstance(response.get("items"), list)
    if not is_list:
        if wide:
            kind = text(response, "kind") or list_kind(request, response)
            return list_table(kind, [response], namespaced=False, wide=True, now=now)
        return to_yaml(response)
    items = as_list(dig(response, "items"))
    if not items:
        return _empty(request)
    kind = list_kind(request, response)
    return list_table(kind, items, namespaced=request.all_namespaces, wide=wide, now=now)


def render_result(
    request: KubeRequest, response: Any, output: str | None = None, *, now: datetime
) -> str:
    """The API server's response to ``request`` as kubectl would print it.

    ``output`` is kubectl's ``-o`` (``yaml``, ``json``, ``name``, ``wide``; None for the
    default); ``now`` is the current time, for AGE columns.
    """
    fmt = output.strip().lower() if isinstance(output, str) and output.strip() else None
    if request.subresource == "log" or isinstance(response, str | bytes):
        if isinstance(response, bytes):
            return response.decode("utf-8", errors="replace")
        return response if isinstance(response, str) else ""
    if fmt in ("yaml", "json", "name"):
        return _document(request, response, fmt)
    if request.verb not in READ_VERBS:
        return confirmation(request, response)
    return _read(request, response, fmt, now)
