"""One discovery shared by many runs: ``MapperCache`` reuses, expires and rate-limits it."""

from __future__ import annotations

from typing import Any

from infraagent.adapters.kube.executor import MapperCache
from infraagent.errors import KubeError


class _Discovery:
    """A client whose discovery is counted (and can fail, as an unreachable server does)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def discovery(self) -> list[Any]:
        self.calls += 1
        if self.fail:
            raise KubeError("unreachable", status=None)
        return []


def test_runs_share_one_discovery_until_it_is_stale() -> None:
    client, now = _Discovery(), [0.0]
    cache = MapperCache(client, ttl=300, min_refresh=30, monotonic=lambda: now[0])  # type: ignore[arg-type]
    first = cache.get()
    for _ in range(50):
        assert cache.get() is first
    assert client.calls == 1
    now[0] = 301.0
    assert cache.get() is not first and client.calls == 2


def test_a_miss_refreshes_at_most_once_per_interval() -> None:
    client, now = _Discovery(), [0.0]
    cache = MapperCache(client, ttl=300, min_refresh=30, monotonic=lambda: now[0])  # type: ignore[arg-type]
    cache.get()
    for _ in range(20):
        cache.get(refresh=True)
    assert client.calls == 1, "a run asking for unknown resources cannot make every run pay"
    now[0] = 31.0
    cache.get(refresh=True)
    assert client.calls == 2


def test_without_discovery_the_builtin_table_still_resolves() -> None:
    client = _Discovery()
    client.fail = True
    mapper = MapperCache(client).get()  # type: ignore[arg-type]
    assert any(info.resource == "deployments" for info in mapper.resources())
