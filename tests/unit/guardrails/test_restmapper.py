"""The REST mapper: every spelling of a resource resolves to the same canonical resource."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infraagent.guardrails.resources import BUILTIN_RESOURCES, DATA_KINDS
from infraagent.guardrails.restmapper import ResourceInfo, RestMapper
from infraagent.models.crd import KIND_SPECS
from infraagent.models.requests import KubeRequest

MAPPER = RestMapper.builtin()


def info(group: str, resource: str) -> ResourceInfo:
    found = MAPPER.by_group_resource(group, resource)
    assert found is not None, (group, resource)
    return found


PVC = info("", "persistentvolumeclaims")
PV = info("", "persistentvolumes")
NAMESPACE = info("", "namespaces")
SECRET = info("", "secrets")
SNAPSHOT = info("snapshot.storage.k8s.io", "volumesnapshots")
SNAPSHOT_CONTENT = info("snapshot.storage.k8s.io", "volumesnapshotcontents")
PROTECTED = [PVC, PV, NAMESPACE, SECRET, SNAPSHOT, SNAPSHOT_CONTENT]


def aliases(target: ResourceInfo) -> list[str]:
    return [target.kind, target.singular, target.resource, *target.short_names]


def spellings(target: ResourceInfo) -> list[str]:
    """Every alias, bare, group-qualified and version-qualified."""
    out = []
    for alias in aliases(target):
        out += [alias, f"{alias}.{target.group}", f"{alias}.{target.version}.{target.group}"]
    return out


@pytest.mark.parametrize("target", PROTECTED, ids=lambda i: i.kind)
def test_every_spelling_resolves_to_the_same_resource(target: ResourceInfo) -> None:
    for token in spellings(target):
        assert MAPPER.resolve(token) == (target,), token
        assert MAPPER.resolve(token.upper()) == (target,), token


@pytest.mark.parametrize(
    ("token", "group", "resource"),
    [
        ("pvc", "", "persistentvolumeclaims"),
        ("PersistentVolumeClaim", "", "persistentvolumeclaims"),
        ("persistentvolumeclaims.v1.", "", "persistentvolumeclaims"),
        ("pods.", "", "pods"),
        ("deployments.apps", "apps", "deployments"),
        ("deployment.v1.apps", "apps", "deployments"),
        ("Deployment.apps", "apps", "deployments"),
        ("deploy.apps", "apps", "deployments"),
        ("deployments.v1beta1.apps", "apps", "deployments"),
        ("hpa.v1.autoscaling", "autoscaling", "horizontalpodautoscalers"),
        ("clusters.postgresql.cnpg.io", "postgresql.cnpg.io", "clusters"),
        ("Cluster.v1.postgresql.cnpg.io", "postgresql.cnpg.io", "clusters"),
        ("backups.velero.io", "velero.io", "backups"),
        ("pods.metrics.k8s.io", "metrics.k8s.io", "pods"),
        ("PodMetrics", "metrics.k8s.io", "pods"),
        ("events.events.k8s.io", "events.k8s.io", "events"),
        ("ia", "core.infraagent.io", "infraagents"),
        ("aenv", "core.infraagent.io", "agentenvironments"),
        ("mtc", "core.infraagent.io", "modeltierconfigs"),
        ("arun", "core.infraagent.io", "agentruns"),
        ("fleetsources", "core.infraagent.io", "fleetsources"),
        ("es", "elasticsearch.k8s.elastic.co", "elasticsearches"),
        ("postgresql", "acid.zalan.do", "postgresqls"),
        ("mdbc", "mongodbcommunity.mongodb.com", "mongodbcommunity"),
        ("cassdc", "cassandra.datastax.com", "cassandradatacenters"),
        ("kafka", "kafka.strimzi.io", "kafkas"),
        ("pxc", "pxc.percona.com", "perconaxtradbclusters"),
        ("ic", "mysql.oracle.com", "innodbclusters"),
    ],
)
def test_spellings_resolve(token: str, group: str, resource: str) -> None:
    assert MAPPER.resolve(token) == (info(group, resource),)


@pytest.mark.parametrize(
    ("short", "resource"),
    [
        ("po", "pods"), ("svc", "services"), ("ep", "endpoints"), ("cm", "configmaps"),
        ("sa", "serviceaccounts"), ("pvc", "persistentvolumeclaims"),
        ("pv", "persistentvolumes"), ("ns", "namespaces"), ("no", "nodes"), ("ev", "events"),
        ("limits", "limitranges"), ("quota", "resourcequotas"),
        ("rc", "replicationcontrollers"), ("deploy", "deployments"), ("sts", "statefulsets"),
        ("ds", "daemonsets"), ("rs", "replicasets"), ("cj", "cronjobs"),
        ("hpa", "horizontalpodautoscalers"), ("ing", "ingresses"),
        ("netpol", "networkpolicies"), ("pdb", "poddisruptionbudgets"),
        ("sc", "storageclasses"), ("crd", "customresourcedefinitions"),
        ("crds", "customresourcedefinitions"), ("csr", "certificatesigningrequests"),
        ("pc", "priorityclasses"), ("vs", "volumesnapshots"),
        ("vsc", "volumesnapshotcontents"),
    ],
)  # fmt: skip
def test_kubectl_short_names(short: str, resource: str) -> None:
    (found,) = MAPPER.resolve(short)
    assert found.resource == resource


@st.composite
def cased_spelling(draw: st.DrawFn) -> tuple[str, ResourceInfo]:
    target = draw(st.sampled_from(PROTECTED))
    alias = draw(st.sampled_from(aliases(target)))
    form = draw(st.sampled_from(["bare", "group", "version"]))
    token = {
        "bare": alias,
        "group": f"{alias}.{target.group}",
        "version": f"{alias}.{target.version}.{target.group}",
    }[form]
    flips = draw(st.lists(st.booleans(), min_size=len(token), max_size=len(token)))
    cased = "".join(c.upper() if f else c.lower() for c, f in zip(token, flips, strict=True))
    return cased, target


@given(cased_spelling())
def test_any_casing_of_any_qualified_alias_resolves(case: tuple[str, ResourceInfo]) -> None:
    token, target = case
    assert MAPPER.resolve(token) == (target,)


@pytest.mark.parametrize(
    "token",
    [
        "pvc.apps", "secrets.v1.apps", "Secret.storage.k8s.io", "namespaces.v1.core",
        "deployments.v1.", "deployments.", "deployments.batch", "clusters.postgresql.cnpg.com",
        "Cluster.v1.cnpg.io", "volumesnapshots.storage.k8s.io", "pods.v1", "pvcs", "secret/x",
        "", "persistentvolumeclaim s", ".pvc", "pvc..",
    ],
)  # fmt: skip
def test_wrong_group_or_unknown_name_resolves_to_nothing(token: str) -> None:
    assert MAPPER.resolve(token) == ()


@pytest.mark.parametrize(
    ("token", "groups"),
    [
        ("backup", ["postgresql.cnpg.io", "velero.io"]),
        ("Backups", ["postgresql.cnpg.io", "velero.io"]),
        ("cluster", ["cluster.x-k8s.io", "postgresql.cnpg.io"]),
        ("clusters", ["cluster.x-k8s.io", "postgresql.cnpg.io"]),
        ("mysqlcluster", ["moco.cybozu.com", "mysql.presslabs.org"]),
        ("mysqlbackups", ["mysql.oracle.com", "mysql.presslabs.org"]),
    ],
)
def test_ambiguous_bare_names_return_every_candidate(token: str, groups: list[str]) -> None:
    assert [c.group for c in MAPPER.resolve(token)] == groups


@pytest.mark.parametrize(("token", "group"), [("events", ""), ("ev", ""), ("pods", "")])
def test_core_and_compiled_in_resources_win_bare_names(token: str, group: str) -> None:
    """As kubectl does: ``pods`` is never pods.metrics.k8s.io, ``events`` the core Event."""
    assert [c.group for c in MAPPER.resolve(token)] == [group]


def test_discovery_adds_and_overrides() -> None:
    custom = ResourceInfo("example.com", "v1", "widgets", "Widget", True, "widget", ("wd",))
    velero = info("velero.io", "backups")
    moved = dataclasses.replace(velero, version="v2", short_names=("vb",))
    snapshots = dataclasses.replace(SNAPSHOT, short_names=())
    mapper = MAPPER.with_discovery([custom, moved, snapshots])
    assert mapper.resolve("wd") == (custom,)
    assert mapper.resolve("Widget.v1.example.com") == (custom,)
    assert mapper.resolve("vb") == (moved,)
    assert mapper.by_group_resource("velero.io", "backups") == moved
    assert [c.version for c in mapper.resolve("backup")] == ["v1", "v2"]
    assert mapper.resolve("vs") == ()
    assert mapper.resolve("volumesnapshot") == (snapshots,)
    # the built-in mapper is untouched
    assert MAPPER.resolve("wd") == ()
    assert MAPPER.resolve("vs") == (SNAPSHOT,)
    assert RestMapper.builtin() is MAPPER


def test_discovery_can_add_a_candidate_to_a_bare_name() -> None:
    other = ResourceInfo("backup.example.io", "v1", "backups", "Backup", True, "backup")
    mapper = MAPPER.with_discovery([other])
    assert [c.group for c in mapper.resolve("backup")] == [
        "backup.example.io",
        "postgresql.cnpg.io",
        "velero.io",
    ]


def test_resolve_request_carries_everything_else_through() -> None:
    request = KubeRequest(
        verb="patch",
        resource="PVC",
        subresource="status",
        namespace="db",
        name="data-0",
        label_selector="app=pg",
        field_selector="status.phase=Bound",
        body={"spec": {}},
        patch_type="merge",
        dry_run=True,
        options=frozenset({"force"}),
    )
    (resolved,) = MAPPER.resolve_request(request)
    assert resolved == dataclasses.replace(
        request, resource="persistentvolumeclaims", group="", version="v1", resolved=True
    )


def test_resolve_request_expands_ambiguity_and_keeps_a_written_version() -> None:
    deletes = MAPPER.resolve_request(KubeRequest(verb="delete", resource="backup", name="b"))
    assert [(r.group, r.resource, r.resolved) for r in deletes] == [
        ("postgresql.cnpg.io", "backups", True),
        ("velero.io", "backups", True),
    ]
    (versioned,) = MAPPER.resolve_request(KubeRequest("get", "deployments.v1beta1.apps"))
    assert (versioned.group, versioned.version) == ("apps", "v1beta1")
    assert MAPPER.resolve_request(KubeRequest("delete", "nonsense")) == ()


def test_resolve_request_honours_a_group_from_a_manifest() -> None:
    (pod,) = MAPPER.resolve_request(KubeRequest("create", "Pod", group="", version="v1"))
    assert (pod.group, pod.resource, pod.version) == ("", "pods", "v1")
    (metrics,) = MAPPER.resolve_request(KubeRequest("get", "pods", group="metrics.k8s.io"))
    assert metrics.group == "metrics.k8s.io"
    assert MAPPER.resolve_request(KubeRequest("create", "Pod", group="apps")) == ()
    resolved = KubeRequest("delete", "secrets", group="", version="v1", resolved=True)
    assert MAPPER.resolve_request(resolved) == (resolved,)
    bogus = KubeRequest("delete", "secrets", group="apps", version="v1", resolved=True)
    assert MAPPER.resolve_request(bogus) == ()


def test_the_table_is_well_formed() -> None:
    keys = [(r.group, r.resource) for r in BUILTIN_RESOURCES]
    assert len(keys) == len(set(keys))
    for r in BUILTIN_RESOURCES:
        assert r.resource == r.resource.lower() and r.singular == r.kind.lower()
        assert all(s == s.lower() for s in r.short_names)
    assert {(r.group, r.resource) for r in MAPPER.resources()} == set(keys)


def test_scopes() -> None:
    cluster_scoped = {r.resource for r in BUILTIN_RESOURCES if not r.namespaced and not r.group}
    assert cluster_scoped == {"persistentvolumes", "namespaces", "nodes", "componentstatuses"}
    assert not info("snapshot.storage.k8s.io", "volumesnapshotcontents").namespaced
    assert info("snapshot.storage.k8s.io", "volumesnapshots").namespaced
    assert info("metrics.k8s.io", "pods").namespaced
    assert not info("rbac.authorization.k8s.io", "clusterroles").namespaced


def test_infraagent_resources_match_the_crds() -> None:
    for spec in KIND_SPECS:
        found = info("core.infraagent.io", spec.plural)
        assert (found.kind, found.short_names) == (spec.kind, (spec.short_name,))
        assert found.namespaced == (spec.scope == "Namespaced")


def test_every_data_kind_is_in_the_table() -> None:
    for group, resource in DATA_KINDS:
        assert MAPPER.by_group_resource(group, resource) is not None, (group, resource)


@pytest.mark.parametrize(
    "token",
    [
        "pvc", "pv", "namespace", "secret", "volumesnapshot", "volumesnapshotcontent",
        "clusters.postgresql.cnpg.io", "backups.postgresql.cnpg.io",
        "scheduledbackups.postgresql.cnpg.io", "poolers.postgresql.cnpg.io",
        "backups.velero.io", "restores.velero.io", "schedules.velero.io", "postgrescluster",
        "postgresql", "mongodbcommunity", "redisfailover", "cassandradatacenter",
        "elasticsearch", "kafka", "innodbcluster", "perconaxtradbcluster",
        "perconaservermysql", "mysqlclusters.mysql.presslabs.org",
        "mysqlclusters.moco.cybozu.com",
    ],
)  # fmt: skip
def test_the_issue_s_data_kinds_are_data_kinds(token: str) -> None:
    (found,) = MAPPER.resolve(token)
    assert found.group_resource in DATA_KINDS
