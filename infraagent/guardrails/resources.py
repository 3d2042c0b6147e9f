"""The built-in resource table of the REST mapper, and the kinds that hold data.

``BUILTIN_RESOURCES`` lists the Kubernetes resources the guardrails know without a
cluster: the core and built-in API groups, the snapshot CRDs, InfraAgent's own custom
resources and the common data operators (CloudNativePG, Velero, Crunchy, Zalando, MongoDB
Community, Redis Failover, Cassandra and K8ssandra, Elasticsearch, Strimzi and the MySQL
operators), plus Cluster API's clusters, each with its real group, preferred version,
plural, kind, scope, short names and subresources. ``DATA_KINDS`` names the (group,
plural) pairs whose deletion loses data. ``COMPILED_IN_GROUPS`` and ``LOW_PRIORITY_GROUPS``
give kubectl's group priority, which decides who owns a bare name two groups share.

This module is data only: lookup lives in ``restmapper``; what a request to one of these
resources means (its tier, the rule it trips) lives in the rules modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

from infraagent.models.common import API_GROUP, API_VERSION


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One API resource: what a kubectl token resolves to."""

    group: str  # "" for the core group
    version: str  # preferred version
    resource: str  # plural, lower case
    kind: str  # CamelCase
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()

    @property
    def group_resource(self) -> tuple[str, str]:
        return (self.group, self.resource)


class _Row(NamedTuple):
    """One resource of a group: plural, kind, scope, short names and subresources."""

    plural: str
    kind: str
    namespaced: bool = True
    short: str = ""  # space-separated
    sub: str = ""  # space-separated


_NS: Final = True
_CLUSTER: Final = False
_S: Final = "status"
_SCALE: Final = "status scale"
_POD_SUB: Final = (
    "status log exec attach portforward proxy eviction binding ephemeralcontainers resize"
)


def _group(group: str, version: str, *rows: _Row) -> tuple[ResourceInfo, ...]:
    return tuple(
        ResourceInfo(
            group=group,
            version=version,
            resource=row.plural,
            kind=row.kind,
            namespaced=row.namespaced,
            singular=row.kind.lower(),
            short_names=tuple(row.short.split()),
            subresources=frozenset(row.sub.split()),
        )
        for row in rows
    )


_SNAP: Final = "snapshot.storage.k8s.io"
_GSNAP: Final = "groupsnapshot.storage.k8s.io"
_ADM: Final = "admissionregistration.k8s.io"
_RBAC: Final = "rbac.authorization.k8s.io"
_AUTHN: Final = "authentication.k8s.io"
_AUTHZ: Final = "authorization.k8s.io"
_METRICS: Final = "metrics.k8s.io"
_FLOW: Final = "flowcontrol.apiserver.k8s.io"

# fmt: off
_KUBERNETES: Final = (
    *_group("", "v1",
        _Row("pods", "Pod", _NS, "po", _POD_SUB),
        _Row("services", "Service", _NS, "svc", "status proxy"),
        _Row("endpoints", "Endpoints", _NS, "ep"),
        _Row("configmaps", "ConfigMap", _NS, "cm"),
        _Row("secrets", "Secret"),
        _Row("serviceaccounts", "ServiceAccount", _NS, "sa", "token"),
        _Row("persistentvolumeclaims", "PersistentVolumeClaim", _NS, "pvc", _S),
        _Row("persistentvolumes", "PersistentVolume", _CLUSTER, "pv", _S),
        _Row("namespaces", "Namespace", _CLUSTER, "ns", "status finalize"),
        _Row("nodes", "Node", _CLUSTER, "no", "status proxy"),
        _Row("events", "Event", _NS, "ev"),
        _Row("limitranges", "LimitRange", _NS, "limits"),
        _Row("resourcequotas", "ResourceQuota", _NS, "quota", _S),
        _Row("replicationcontrollers", "ReplicationController", _NS, "rc", _SCALE),
        _Row("podtemplates", "PodTemplate"),
        _Row("componentstatuses", "ComponentStatus", _CLUSTER, "cs"),
        _Row("bindings", "Binding")),
    *_group("apps", "v1",
        _Row("deployments", "Deployment", _NS, "deploy", _SCALE),
        _Row("statefulsets", "StatefulSet", _NS, "sts", _SCALE),
        _Row("daemonsets", "DaemonSet", _NS, "ds", _S),
        _Row("replicasets", "ReplicaSet", _NS, "rs", _SCALE),
        _Row("controllerrevisions", "ControllerRevision")),
    *_group("batch", "v1",
        _Row("jobs", "Job", _NS, "", _S),
        _Row("cronjobs", "CronJob", _NS, "cj", _S)),
    *_group("autoscaling", "v2",
        _Row("horizontalpodautoscalers", "HorizontalPodAutoscaler", _NS, "hpa", _S)),
    *_group("networking.k8s.io", "v1",
        _Row("ingresses", "Ingress", _NS, "ing", _S),
        _Row("ingressclasses", "IngressClass", _CLUSTER),
        _Row("networkpolicies", "NetworkPolicy", _NS, "netpol")),
    *_group("policy", "v1",
        _Row("poddisruptionbudgets", "PodDisruptionBudget", _NS, "pdb", _S)),
    *_group(_RBAC, "v1",
        _Row("roles", "Role"),
        _Row("rolebindings", "RoleBinding"),
        _Row("clusterroles", "ClusterRole", _CLUSTER),
        _Row("clusterrolebindings", "ClusterRoleBinding", _CLUSTER)),
    *_group("storage.k8s.io", "v1",
        _Row("storageclasses", "StorageClass", _CLUSTER, "sc"),
        _Row("volumeattachments", "VolumeAttachment", _CLUSTER, "", _S),
        _Row("csidrivers", "CSIDriver", _CLUSTER),
        _Row("csinodes", "CSINode", _CLUSTER),
        _Row("csistoragecapacities", "CSIStorageCapacity")),
    *_group(_SNAP, "v1",
        _Row("volumesnapshots", "VolumeSnapshot", _NS, "vs", _S),
        _Row("volumesnapshotcontents", "VolumeSnapshotContent", _CLUSTER, "vsc vscs", _S),
        _Row("volumesnapshotclasses", "VolumeSnapshotClass", _CLUSTER, "vsclass vsclasses")),
    *_group(_GSNAP, "v1beta1",
        _Row("volumegroupsnapshots", "VolumeGroupSnapshot", _NS, "vgs", _S),
        _Row("volumegroupsnapshotcontents", "VolumeGroupSnapshotContent", _CLUSTER,
             "vgsc vgscs", _S),
        _Row("volumegroupsnapshotclasses", "VolumeGroupSnapshotClass", _CLUSTER,
             "vgsclass vgsclasses")),
    *_group(_ADM, "v1",
        _Row("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", _CLUSTER),
        _Row("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", _CLUSTER),
        _Row("validatingadmissionpolicies", "ValidatingAdmissionPolicy", _CLUSTER, "", _S),
        _Row("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", _CLUSTER)),
    *_group(_ADM, "v1beta1",
        _Row("mutatingadmissionpolicies", "MutatingAdmissionPolicy", _CLUSTER),
        _Row("mutatingadmissionpolicybindings", "MutatingAdmissionPolicyBinding", _CLUSTER)),
    *_group("apiextensions.k8s.io", "v1",
        _Row("customresourcedefinitions", "CustomResourceDefinition", _CLUSTER, "crd crds", _S)),
    *_group("apiregistration.k8s.io", "v1",
        _Row("apiservices", "APIService", _CLUSTER, "", _S)),
    *_group("coordination.k8s.io", "v1",
        _Row("leases", "Lease")),
    *_group("certificates.k8s.io", "v1",
        _Row("certificatesigningrequests", "CertificateSigningRequest", _CLUSTER, "csr",
             "status approval")),
    *_group("discovery.k8s.io", "v1",
        _Row("endpointslices", "EndpointSlice")),
    *_group("events.k8s.io", "v1",
        _Row("events", "Event", _NS, "ev")),
    *_group("scheduling.k8s.io", "v1",
        _Row("priorityclasses", "PriorityClass", _CLUSTER, "pc")),
    *_group("node.k8s.io", "v1",
        _Row("runtimeclasses", "RuntimeClass", _CLUSTER)),
    *_group(_FLOW, "v1",
        _Row("flowschemas", "FlowSchema", _CLUSTER, "", _S),
        _Row("prioritylevelconfigurations", "PriorityLevelConfiguration", _CLUSTER, "", _S)),
    *_group(_AUTHN, "v1",
        _Row("tokenreviews", "TokenReview", _CLUSTER),
        _Row("selfsubjectreviews", "SelfSubjectReview", _CLUSTER)),
    *_group(_AUTHZ, "v1",
        _Row("subjectaccessreviews", "SubjectAccessReview", _CLUSTER),
        _Row("selfsubjectaccessreviews", "SelfSubjectAccessReview", _CLUSTER),
        _Row("selfsubjectrulesreviews", "SelfSubjectRulesReview", _CLUSTER),
        _Row("localsubjectaccessreviews", "LocalSubjectAccessReview")),
    *_group(_METRICS, "v1beta1",
        _Row("pods", "PodMetrics"),
        _Row("nodes", "NodeMetrics", _CLUSTER)),
)

_INFRAAGENT: Final = (
    *_group(API_GROUP, API_VERSION,
        _Row("infraagents", "InfraAgent", _NS, "ia", _S),
        _Row("agentenvironments", "AgentEnvironment", _NS, "aenv", _S),
        _Row("modeltierconfigs", "ModelTierConfig", _CLUSTER, "mtc", _S),
        _Row("agentruns", "AgentRun", _NS, "arun", _S),
        _Row("fleetsources", "FleetSource", _NS, "fs", _S)),
)

_CNPG: Final = "postgresql.cnpg.io"
_VELERO: Final = "velero.io"
_CRUNCHY: Final = "postgres-operator.crunchydata.com"
_ZALANDO: Final = "acid.zalan.do"
_STRIMZI: Final = "kafka.strimzi.io"
_ORACLE: Final = "mysql.oracle.com"
_PS: Final = "ps.percona.com"
_PXC: Final = "pxc.percona.com"
_PRESSLABS: Final = "mysql.presslabs.org"
_MOCO: Final = "moco.cybozu.com"

_DATA_OPERATORS: Final = (
    *_group(_CNPG, "v1",
        _Row("clusters", "Cluster", _NS, "", _SCALE),
        _Row("backups", "Backup", _NS, "", _S),
        _Row("scheduledbackups", "ScheduledBackup", _NS, "", _S),
        _Row("poolers", "Pooler", _NS, "", _SCALE),
        _Row("databases", "Database", _NS, "", _S),
        _Row("publications", "Publication", _NS, "", _S),
        _Row("subscriptions", "Subscription", _NS, "", _S),
        _Row("imagecatalogs", "ImageCatalog"),
        _Row("clusterimagecatalogs", "ClusterImageCatalog", _CLUSTER)),
    *_group(_VELERO, "v1",
        _Row("backups", "Backup", _NS, "", _S),
        _Row("restores", "Restore", _NS, "", _S),
        _Row("schedules", "Schedule", _NS, "", _S),
        _Row("backupstoragelocations", "BackupStorageLocation", _NS, "bsl", _S),
        _Row("volumesnapshotlocations", "VolumeSnapshotLocation", _NS, "vsl", _S),
        _Row("podvolumebackups", "PodVolumeBackup", _NS, "", _S),
        _Row("podvolumerestores", "PodVolumeRestore", _NS, "", _S),
        _Row("deletebackuprequests", "DeleteBackupRequest", _NS, "", _S),
        _Row("downloadrequests", "DownloadRequest", _NS, "", _S),
        _Row("serverstatusrequests", "ServerStatusRequest", _NS, "ssr", _S),
        _Row("backuprepositories", "BackupRepository", _NS, "", _S)),
    *_group(_VELERO, "v2alpha1",
        _Row("datauploads", "DataUpload", _NS, "", _S),
        _Row("datadownloads", "DataDownload", _NS, "", _S)),
    *_group(_CRUNCHY, "v1beta1",
        _Row("postgresclusters", "PostgresCluster", _NS, "", _S),
        _Row("pgupgrades", "PGUpgrade", _NS, "", _S),
        _Row("pgadmins", "PGAdmin", _NS, "", _S)),
    *_group(_ZALANDO, "v1",
        _Row("postgresqls", "postgresql", _NS, "pg", _S),
        _Row("operatorconfigurations", "OperatorConfiguration", _NS, "opconfig"),
        _Row("postgresteams", "PostgresTeam", _NS, "pgteam")),
    *_group("mongodbcommunity.mongodb.com", "v1",
        _Row("mongodbcommunity", "MongoDBCommunity", _NS, "mdbc", _S)),
    *_group("databases.spotahome.com", "v1",
        _Row("redisfailovers", "RedisFailover", _NS, "rf", _S)),
    *_group("cassandra.datastax.com", "v1beta1",
        _Row("cassandradatacenters", "CassandraDatacenter", _NS, "cassdc cassdcs", _S)),
    *_group("k8ssandra.io", "v1alpha1",
        _Row("k8ssandraclusters", "K8ssandraCluster", _NS, "k8c k8cs", _S)),
    *_group("elasticsearch.k8s.elastic.co", "v1",
        _Row("elasticsearches", "Elasticsearch", _NS, "es", _S)),
    *_group(_STRIMZI, "v1beta2",
        _Row("kafkas", "Kafka", _NS, "k", _S),
        _Row("kafkatopics", "KafkaTopic", _NS, "kt", _S),
        _Row("kafkausers", "KafkaUser", _NS, "ku", _S),
        _Row("kafkanodepools", "KafkaNodePool", _NS, "knp", _SCALE),
        _Row("kafkaconnects", "KafkaConnect", _NS, "kc", _SCALE),
        _Row("kafkamirrormaker2s", "KafkaMirrorMaker2", _NS, "kmm2", _SCALE)),
    *_group(_ORACLE, "v2",
        _Row("innodbclusters", "InnoDBCluster", _NS, "ic ics", _S),
        _Row("mysqlbackups", "MySQLBackup", _NS, "mbk", _S)),
    *_group(_PS, "v1alpha1",
        _Row("perconaservermysqls", "PerconaServerMySQL", _NS, "ps", _S),
        _Row("perconaservermysqlbackups", "PerconaServerMySQLBackup", _NS, "ps-backup", _S),
        _Row("perconaservermysqlrestores", "PerconaServerMySQLRestore", _NS, "ps-restore", _S)),
    *_group(_PXC, "v1",
        _Row("perconaxtradbclusters", "PerconaXtraDBCluster", _NS, "pxc pxcs", _SCALE),
        _Row("perconaxtradbclusterbackups", "PerconaXtraDBClusterBackup", _NS,
             "pxc-backup pxc-backups", _S),
        _Row("perconaxtradbclusterrestores", "PerconaXtraDBClusterRestore", _NS,
             "pxc-restore pxc-restores", _S)),
    *_group(_PRESSLABS, "v1alpha1",
        _Row("mysqlclusters", "MysqlCluster", _NS, "mysql", _SCALE),
        _Row("mysqlbackups", "MysqlBackup", _NS, "", _S),
        _Row("mysqldatabases", "MysqlDatabase", _NS, "", _S)),
    *_group(_MOCO, "v1beta2",
        _Row("mysqlclusters", "MySQLCluster", _NS, "", _S),
        _Row("backuppolicies", "BackupPolicy")),
)

_OTHERS: Final = (  # Cluster API shares the bare name "cluster" with CloudNativePG
    *_group("cluster.x-k8s.io", "v1beta1",
        _Row("clusters", "Cluster", _NS, "cl", _S)),
)
# fmt: on

BUILTIN_RESOURCES: Final[tuple[ResourceInfo, ...]] = (
    *_KUBERNETES,
    *_INFRAAGENT,
    *_DATA_OPERATORS,
    *_OTHERS,
)
"""Every resource the REST mapper knows without live discovery."""

COMPILED_IN_GROUPS: Final = frozenset(
    {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", _RBAC, "storage.k8s.io"}
    | {_ADM, "apiextensions.k8s.io", "apiregistration.k8s.io", "coordination.k8s.io"}
    | {"certificates.k8s.io", "discovery.k8s.io", "events.k8s.io", "scheduling.k8s.io"}
    | {"node.k8s.io", "flowcontrol.apiserver.k8s.io", _AUTHN, _AUTHZ, "resource.k8s.io"}
    | {"storagemigration.k8s.io", "internal.apiserver.k8s.io"}
)
"""API groups compiled into kube-apiserver (not CRDs): they outrank CRDs for bare names."""

LOW_PRIORITY_GROUPS: Final = frozenset(
    {_METRICS, "custom.metrics.k8s.io", "external.metrics.k8s.io"}
)
"""Aggregated APIs registered below the CRDs' priority (metrics-server and adapters)."""

_DATA_OPERATOR_KINDS: Final = frozenset(
    {(_CNPG, p) for p in ("clusters", "backups", "scheduledbackups", "poolers", "databases")}
    | {(_CNPG, "publications"), (_CNPG, "subscriptions")}
    | {(_VELERO, p) for p in ("backups", "restores", "schedules", "backupstoragelocations")}
    | {(_VELERO, p) for p in ("volumesnapshotlocations", "podvolumebackups", "podvolumerestores")}
    | {(_VELERO, p) for p in ("deletebackuprequests", "backuprepositories", "datauploads")}
    | {(_VELERO, "datadownloads"), (_CRUNCHY, "postgresclusters"), (_ZALANDO, "postgresqls")}
    | {("mongodbcommunity.mongodb.com", "mongodbcommunity")}
    | {("databases.spotahome.com", "redisfailovers")}
    | {("cassandra.datastax.com", "cassandradatacenters"), ("k8ssandra.io", "k8ssandraclusters")}
    | {("elasticsearch.k8s.elastic.co", "elasticsearches")}
    | {(_STRIMZI, p) for p in ("kafkas", "kafkatopics", "kafkanodepools")}
    | {(_ORACLE, "innodbclusters"), (_ORACLE, "mysqlbackups")}
    | {(_PS, p) for p in ("perconaservermysqls", "perconaservermysqlbackups")}
    | {(_PS, "perconaservermysqlrestores")}
    | {(_PXC, p) for p in ("perconaxtradbclusters", "perconaxtradbclusterbackups")}
    | {(_PXC, "perconaxtradbclusterrestores")}
    | {(_PRESSLABS, p) for p in ("mysqlclusters", "mysqlbackups", "mysqldatabases")}
    | {(_MOCO, "mysqlclusters"), (_MOCO, "backuppolicies")}
)

DATA_KINDS: Final[frozenset[tuple[str, str]]] = frozenset(
    {("", "persistentvolumeclaims"), ("", "persistentvolumes"), ("", "namespaces")}
    | {("", "secrets"), (_SNAP, "volumesnapshots"), (_SNAP, "volumesnapshotcontents")}
    | {(_GSNAP, "volumegroupsnapshots"), (_GSNAP, "volumegroupsnapshotcontents")}
    | _DATA_OPERATOR_KINDS
)
"""(group, plural) of every kind whose delete, deletecollection or forced replace loses data.

PVCs, PVs, Namespaces, Secrets, volume snapshots (single and group) and their contents, and
the data operators' kinds that hold, produce or protect data: database clusters, their
backups, backup schedules and policies, restores, backup locations, and objects whose
deletion drops data (CloudNativePG databases and logical replication, Strimzi topics and
node pools, Presslabs databases). Operator configuration (image catalogs, operator
configurations, teams, users, connectors) is not data.
"""
