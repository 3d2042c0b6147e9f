"""The leader's identity duty (``IdentitySync``) on a real kube-apiserver.

Two agents in a namespace, their skills in the ConfigMaps the reconciler writes
(``infraagent-skill-<name>``, keys ``SKILL.md`` and ``actions.yaml``): ``restarter`` (skill
``ops``: patch deployments in the namespace) and ``watcher`` (skill ``look``: instructions
only). A sync gives each its ServiceAccount and RBAC, proven by impersonating the
ServiceAccount: the restart its sheet permits works, a delete gets 403. A second sync writes
nothing (a forwarding ``Cluster`` counts the writes; no resourceVersion moves). A new verb
in the skill's ConfigMap re-applies that agent's identity, and only that one. A skill
ConfigMap gone or a sheet that does not parse is reported and leaves the previous identity
exactly as it was, until the ConfigMap is fixed. A deleted agent's identity goes, its
cluster-scoped objects too, also when it was deleted while no operator ran. A sheet that
names namespaces by glob follows namespaces as they are created.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.admission import agent_username
from infraagent.errors import KubeError, KubeForbidden
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.keys import SKILL_MD_KEY, SKILL_SHEET_KEY, skill_configmap_name
from infraagent.operator.identities import IdentitySync, SyncResult
from infraagent.operator.identity import IDENTITY_KINDS, agent_selector, remove_identity
from infraagent.ports import ObjectListing

from .conftest import ControlPlane

OPERATOR_NAMESPACE = "infraagent-system"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WAIT = 15.0  # RBAC reaches the authorizer through its informers: a safety net, not a measure
AGENTS = ("restarter", "watcher")


# --------------------------------------------------------------------------- a counting Cluster


@dataclass
class Counting:
    """A ``Cluster`` that forwards every call to ``inner`` and records what could write."""

    inner: KubeClient
    writes: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        if not dry_run:
            self.writes.append(f"apply {_label(obj)}")
        return self.inner.apply(obj, dry_run=dry_run)

    def apply_with_outcome(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        result, outcome = self.inner.apply_with_outcome(obj)
        self.reads.append(f"get {_label(obj)}")
        if outcome != "unchanged":
            self.writes.append(f"{outcome} {_label(obj)}")
        return result, outcome

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.writes.append(f"create {_label(obj)}")
        return self.inner.create(obj)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        self.reads.append(f"get {kind}/{name}")
        return self.inner.get(api_version, kind, name, namespace)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
    ) -> None:
        self.writes.append(f"delete {kind}/{name}")
        self.inner.delete(api_version, kind, name, namespace, propagation=propagation)

    def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        status: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        self.writes.append(f"patch status {kind}/{name}")
        return self.inner.patch_status(api_version, kind, name, status, namespace)

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        self.writes.append(f"patch {kind}/{name}")
        return self.inner.patch(api_version, kind, name, patch, namespace)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> ObjectListing:
        self.reads.append(f"list {kind}")
        return self.inner.list(api_version, kind, namespace, label_selector=label_selector)

    def reset(self) -> None:
        self.writes.clear()
        self.reads.clear()


def _label(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


# --------------------------------------------------------------------------- the shop


def _sheet(namespace: str, verbs: list[str]) -> str:
    action = {
        "id": "restart",
        "description": "Restart a deployment",
        "tier": "service-mutation",
        "kube": {"verbs": verbs, "resources": ["deployments.apps"], "namespaces": [namespace]},
    }
    return yaml.safe_dump({"actions": [action]})


def _skill(name: str, namespace: str, sheet: str | None) -> dict[str, Any]:
    data = {SKILL_MD_KEY: f"---\nname: {name}\ndescription: {name}\n---\nLook after the shop.\n"}
    if sheet is not None:
        data[SKILL_SHEET_KEY] = sheet
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": skill_configmap_name(name), "namespace": namespace},
        "data": data,
    }


def _agent(name: str, namespace: str, skill: str) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "InfraAgent",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "description": f"{name} of the shop",
            "schedule": {"interval": "5m"},
            "model": {"tier": "fast"},
            "skills": [{"name": skill}],
            "guardrails": {"autonomy": "automate-safe"},
            "environmentRef": "lab",
        },
    }


def _deployment(name: str, namespace: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


@dataclass
class Shop:
    admin: KubeClient
    cluster: Counting
    namespace: str
    problems: list[str]

    def sync(self, identities: IdentitySync) -> SyncResult:
        self.cluster.reset()
        return identities.sync()

    def identities(self) -> IdentitySync:
        """What the operator's main job builds, scoped to this test's namespace."""
        return IdentitySync(
            self.cluster,
            OPERATOR_NAMESPACE,
            report=self.problems.append,
            namespace=self.namespace,
        )

    def qualified(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def live(self, name: str) -> dict[str, str]:
        """resourceVersion of every object of the agent's identity, by ``Kind/[ns/]name``."""
        found = {}
        for api_version, kind in IDENTITY_KINDS:
            selector = agent_selector(name, self.namespace)
            for obj in self.admin.list(api_version, kind, label_selector=selector).items:
                meta = obj["metadata"]
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                found[f"{kind}/{where}{meta['name']}"] = str(meta["resourceVersion"])
        return found

    @contextlib.contextmanager
    def as_agent(self, name: str) -> Iterator[KubeClient]:
        with self.admin.impersonating(agent_username(self.namespace, name)) as agent:
            yield agent

    def set_sheet(self, sheet: str | None) -> None:
        self.admin.apply(_skill("ops", self.namespace, sheet))


@pytest.fixture
def shop(control_plane: ControlPlane, crds: list[str], namespace: str) -> Iterator[Shop]:
    admin = KubeClient.from_kubeconfig(control_plane.kubeconfig)
    objects = [
        _skill("ops", namespace, _sheet(namespace, ["patch"])),
        _skill("look", namespace, None),
        _deployment("web", namespace),
        _agent("restarter", namespace, "ops"),
        _agent("watcher", namespace, "look"),
    ]
    try:
        for obj in objects:
            admin.apply(obj)
        yield Shop(admin, Counting(admin), namespace, [])
    finally:
        for name in AGENTS:  # the cluster-scoped objects outlive the namespace
            with contextlib.suppress(KubeError):
                remove_identity(admin, name, namespace)
        admin.close()


# --------------------------------------------------------------------------- what the agent can do


def _eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(int(WAIT / 0.1)):
        if check():
            return
        threading.Event().wait(0.1)
    pytest.fail(f"{what}: not within {WAIT}s")


def _restart(agent: KubeClient, namespace: str) -> Callable[[], object]:
    stamp = datetime.now(UTC).isoformat()
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    return lambda: agent.patch("apps/v1", "Deployment", "web", body, namespace)


def _create(agent: KubeClient, namespace: str) -> Callable[[], object]:
    name = f"web-{uuid.uuid4().hex[:6]}"
    return lambda: agent.create(_deployment(name, namespace))


def _delete(agent: KubeClient, namespace: str) -> Callable[[], object]:
    return lambda: agent.delete("apps/v1", "Deployment", "web", namespace)


def _works(call: Callable[[], object]) -> bool:
    try:
        call()
    except KubeForbidden:
        return False
    return True


def _allowed(call: Callable[[], object], what: str) -> None:
    _eventually(lambda: _works(call), f"{what} allowed")


def _refused(call: Callable[[], object], what: str) -> None:
    _eventually(lambda: not _works(call), f"{what} refused (403)")


# --------------------------------------------------------------------------- tests


def test_a_sync_gives_each_agent_the_rights_of_its_sheets_and_a_second_writes_nothing(
    shop: Shop,
) -> None:
    ns = shop.namespace
    identities = shop.identities()
    with shop.as_agent("restarter") as agent:
        assert not _works(_restart(agent, ns))  # no identity yet: nothing is allowed

    first = shop.sync(identities)
    assert sorted(first.applied) == [shop.qualified(name) for name in AGENTS]
    assert first.problems == [] and first.removed == []
    assert shop.cluster.writes, "the first sync created the identities"
    with shop.as_agent("restarter") as agent:
        _allowed(_restart(agent, ns), "the restart the sheet permits")
        assert not _works(_delete(agent, ns))  # delete: 403
        assert not _works(_create(agent, ns))  # create: not in the sheet
    with shop.as_agent("watcher") as agent:
        _allowed(lambda: agent.list("v1", "Pod", ns), "reading pods")
        assert not _works(_restart(agent, ns))  # its skill has no actions
    annotations = shop.admin.get("apps/v1", "Deployment", "web", ns)["spec"]["template"]
    assert RESTARTED_AT in annotations["metadata"]["annotations"]

    versions = {name: shop.live(name) for name in AGENTS}
    assert all(versions.values())
    second = shop.sync(identities)
    assert second == SyncResult()
    assert shop.cluster.writes == []
    assert {name: shop.live(name) for name in AGENTS} == versions
    # a steady fleet costs the two lists and one read per skill, nothing per RBAC object
    assert sorted(shop.cluster.reads) == [
        f"get ConfigMap/{skill_configmap_name('look')}",
        f"get ConfigMap/{skill_configmap_name('ops')}",
        "list InfraAgent",
        "list Namespace",
    ]


def test_a_new_verb_in_the_skill_reapplies_that_agents_identity_only(shop: Shop) -> None:
    ns = shop.namespace
    identities = shop.identities()
    shop.sync(identities)
    watcher = shop.live("watcher")
    with shop.as_agent("restarter") as agent:
        _allowed(_restart(agent, ns), "the restart")
        assert not _works(_create(agent, ns))

        shop.set_sheet(_sheet(ns, ["patch", "create"]))
        changed = shop.sync(identities)
        assert changed == SyncResult(applied=[shop.qualified("restarter")])
        assert all(write.startswith("configured ") for write in shop.cluster.writes)
        _allowed(_create(agent, ns), "the create the sheet now permits")
        assert not _works(_delete(agent, ns))
    assert shop.live("watcher") == watcher
    assert shop.sync(identities) == SyncResult()
    assert shop.cluster.writes == []


def test_a_missing_skill_or_a_broken_sheet_keeps_the_previous_identity_until_fixed(
    shop: Shop,
) -> None:
    ns = shop.namespace
    identities = shop.identities()
    shop.sync(identities)
    before = shop.live("restarter")
    shop.admin.delete("v1", "ConfigMap", skill_configmap_name("ops"), ns)

    missing = shop.sync(identities)
    assert missing.applied == [] and missing.removed == []
    (problem,) = missing.problems
    assert shop.qualified("restarter") in problem and "'ops'" in problem
    assert "not found" in problem
    assert shop.cluster.writes == [] and shop.live("restarter") == before
    assert shop.sync(identities).problems == [problem]  # still reported by every sync ...
    assert shop.problems == [problem]  # ... but said once

    shop.set_sheet("actions:\n  - id: restart\n    tier: [unclosed\n")
    broken = shop.sync(identities)
    (problem,) = broken.problems
    assert "actions.yaml" in problem and "'ops'" in problem
    shop.set_sheet(yaml.safe_dump({"actions": [{"id": "restart", "tier": "no-such-tier"}]}))
    assert "actions.yaml" in shop.sync(identities).problems[0]
    assert shop.cluster.writes == [] and shop.live("restarter") == before
    with shop.as_agent("restarter") as agent:
        _allowed(_restart(agent, ns), "the restart it had")  # not narrowed, not widened
        assert not _works(_create(agent, ns))

        shop.set_sheet(_sheet(ns, ["patch", "create"]))
        fixed = shop.sync(identities)
        assert fixed == SyncResult(applied=[shop.qualified("restarter")])
        _allowed(_create(agent, ns), "the create of the fixed sheet")
    assert len(shop.problems) == 3  # missing, unparsable, invalid; nothing after the fix


def test_a_deleted_agents_identity_is_removed_cluster_scoped_objects_too(shop: Shop) -> None:
    ns = shop.namespace
    identities = shop.identities()
    shop.sync(identities)
    live = shop.live("restarter")
    assert any(key.startswith("ClusterRole/") for key in live)
    assert any(key.startswith("ClusterRoleBinding/") for key in live)
    watcher = shop.live("watcher")

    shop.admin.delete(GROUP_VERSION, "InfraAgent", "restarter", ns)
    gone = shop.sync(identities)
    assert gone == SyncResult(removed=[shop.qualified("restarter")])
    assert shop.live("restarter") == {}
    assert shop.live("watcher") == watcher
    with shop.as_agent("restarter") as agent:
        _refused(_restart(agent, ns), "the restart of a deleted agent")
    assert shop.sync(identities) == SyncResult()

    # deleted while no operator ran: a new process's first sync finds what is left, unless
    # it was handed the agents (a list may cover less than its scope: nothing is guessed)
    shop.admin.delete(GROUP_VERSION, "InfraAgent", "watcher", ns)
    assert shop.identities().sync([]) == SyncResult()
    assert shop.live("watcher") == watcher
    restarted = shop.identities()
    assert shop.sync(restarted) == SyncResult(removed=[shop.qualified("watcher")])
    assert shop.live("watcher") == {}


def test_an_agent_whose_sheet_names_namespaces_by_glob_follows_new_namespaces(
    shop: Shop,
) -> None:
    prefix = f"glob-{uuid.uuid4().hex[:6]}"
    sheet = yaml.safe_load(_sheet(shop.namespace, ["patch"]))
    sheet["actions"][0]["kube"]["namespaces"] = [f"{prefix}-*"]
    shop.set_sheet(yaml.safe_dump(sheet))
    identities = shop.identities()
    first, created = f"{prefix}-a", f"{prefix}-b"
    namespaces = [first, created]
    try:
        _namespace(shop, first)
        shop.sync(identities)
        _namespace(shop, created)
        _deploy(shop, created)
        with shop.as_agent("restarter") as agent:
            assert not _works(_restart(agent, created))
            assert shop.sync(identities) == SyncResult(applied=[shop.qualified("restarter")])
            _allowed(_restart(agent, created), "the restart in the new namespace")
        assert any(key.startswith(f"Role/{created}/") for key in shop.live("restarter"))
        assert shop.sync(identities) == SyncResult()
    finally:
        for name in namespaces:
            with contextlib.suppress(KubeError):
                shop.admin.delete("v1", "Namespace", name)


def _namespace(shop: Shop, name: str) -> None:
    shop.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _deploy(shop: Shop, namespace: str) -> None:
    shop.admin.apply(_deployment("web", namespace))


def test_ensure_gives_one_agent_its_identity_before_a_run_and_then_costs_no_write(
    shop: Shop,
) -> None:
    ns = shop.namespace
    identities = shop.identities()
    raw = shop.admin.get("core.infraagent.io/v1alpha1", "InfraAgent", "restarter", ns)
    agent = InfraAgent.model_validate(raw)
    with shop.as_agent("restarter") as as_agent:
        assert not _works(_restart(as_agent, ns))  # before: no identity at all

    shop.cluster.reset()
    assert identities.ensure(agent).applied == [shop.qualified("restarter")]
    with shop.as_agent("restarter") as as_agent:
        _allowed(_restart(as_agent, ns), "the restart its sheet permits, right away")
    assert shop.live("watcher") == {}, "only the agent about to run"

    shop.cluster.reset()
    assert identities.ensure(agent) == SyncResult()
    assert shop.cluster.writes == [], "an identity already current is not written again"
