"""The Kubernetes adapter: the only package that imports ``kubernetes``.

``KubeClient`` (``client``) talks to the API server: server-side apply of any kind, get,
list, delete, status patches, impersonation and discovery. ``errors`` turns the SDK's
``ApiException`` into the typed ``KubeError`` tree of ``infraagent.errors``. Callers pass and
receive plain mappings, never SDK models.
"""

from infraagent.adapters.kube.client import FIELD_MANAGER, ApplyOutcome, KubeClient, ObjectList

__all__ = ["FIELD_MANAGER", "ApplyOutcome", "KubeClient", "ObjectList"]
