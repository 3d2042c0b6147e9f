"""The ``AgentEnvironment`` custom resource: the site an agent runs against.

It binds endpoints, namespaces, credentials, channels, MCP servers and, above all, the data
resources that nothing may mutate. Portable agents plus a site-specific environment make a
runnable agent. Nothing in this module does I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from infraagent.models.common import (
    GROUP_VERSION,
    Condition,
    DnsLabel,
    DnsSubdomain,
    Duration,
    FieldPathError,
    Model,
    ObjectMeta,
    conditions_field,
)


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError(
            f"the URL for host {parts.hostname!r} carries credentials; bind a credential instead"
        )
    return value


HttpUrl = Annotated[
    str,
    AfterValidator(_check_http_url),
    WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": "^https?://"}),
]


class ConnectionKind(StrEnum):
    IN_CLUSTER = "in-cluster"
    KUBECONFIG = "kubeconfig"


class KubeconfigRef(Model):
    """A kubeconfig held in a Secret."""

    secretRef: DnsSubdomain = Field(description="Secret holding the kubeconfig.")
    key: str = Field("kubeconfig", max_length=253, description="Key in the Secret.")


class ConnectionSpec(Model):
    """How to reach the cluster the agent works on."""

    kind: ConnectionKind = Field(ConnectionKind.IN_CLUSTER, description="in-cluster or kubeconfig.")
    kubeconfig: KubeconfigRef | None = Field(None, description="Required for kind kubeconfig.")

    @model_validator(mode="after")
    def _kubeconfig_given(self) -> ConnectionSpec:
        if self.kind is ConnectionKind.KUBECONFIG and self.kubeconfig is None:
            raise ValueError("connection kind 'kubeconfig' needs kubeconfig.secretRef")
        if self.kind is ConnectionKind.IN_CLUSTER and self.kubeconfig is not None:
            raise ValueError("kubeconfig is set but connection kind is 'in-cluster'")
        return self


class EndpointKind(StrEnum):
    SERVICE = "service"
    DATABASE = "database"
    OBJECT_STORAGE = "object-storage"


class EndpointSpec(Model):
    """An HTTP endpoint the agent may talk to."""

    url: HttpUrl = Field(description="Base URL (http or https).")
    healthPath: str | None = Field(None, max_length=512, description="Path of the health check.")
    internal: bool = Field(False, description="Reachable only inside the cluster.")
    kind: EndpointKind = Field(
        EndpointKind.SERVICE,
        description=(
            "service, database or object-storage. Non-read requests to database and "
            "object-storage endpoints are data mutations and always denied."
        ),
    )
    credential: DnsLabel | None = Field(
        None,
        description=(
            "A key of spec.credentials, injected only for this exact scheme, host and port."
        ),
    )

    @field_validator("healthPath")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"healthPath {value!r} must start with '/'")
        return value


class NamespaceMap(Model):
    """Namespaces the agent works with, by role."""

    monitoring: list[DnsLabel] = Field(default_factory=list, description="Monitoring namespaces.")
    apps: list[DnsLabel] = Field(default_factory=list, description="Application namespaces.")
    system: list[DnsLabel] = Field(default_factory=list, description="System namespaces.")
    additional: dict[str, list[DnsLabel]] = Field(
        default_factory=dict, description="Further named groups of namespaces."
    )


class CredentialType(StrEnum):
    BEARER_TOKEN = "bearer-token"  # noqa: S105 - a type name, not a secret
    TOKEN = "token"  # noqa: S105 - a type name, not a secret
    API_KEY = "api-key"
    BASIC_AUTH = "basic-auth"
    TLS = "tls"


class CredentialRef(Model):
    """A credential held in a Secret; its value never reaches the model."""

    secretRef: DnsSubdomain = Field(description="Secret holding the credential.")
    type: CredentialType = Field(description="bearer-token, token, api-key, basic-auth or tls.")
    key: str | None = Field(
        None, max_length=253, description="Key in the Secret, if not the type's default."
    )


class ChannelType(StrEnum):
    SLACK = "slack"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    AGENT = "agent"


class ChannelSpec(Model):
    """A notification channel."""

    type: ChannelType = Field(description="slack, telegram, webhook or agent.")
    target: str = Field(min_length=1, max_length=2048, description="URL, chat id or agent name.")
    secretRef: DnsSubdomain | None = Field(None, description="Secret with the channel's token.")


class DataResourceRef(Model):
    """A data-bearing object that agents must never mutate."""

    kind: str = Field(
        min_length=1,
        max_length=253,
        description="Kind or resource, e.g. persistentvolumeclaims or clusters.postgresql.cnpg.io.",
    )
    namespace: DnsLabel = Field(description="Namespace of the object.")
    name: DnsSubdomain = Field(description="Name of the object.")
    backupSchedule: str | None = Field(None, max_length=128, description="Informational.")


class ObjectStorageRef(Model):
    """A bucket that agents must never write to or delete from."""

    kind: str = Field(min_length=1, max_length=128, description="For example s3-bucket.")
    name: str = Field(min_length=1, max_length=253, description="Bucket name.")
    provider: str | None = Field(None, max_length=64, description="aws, gcs, azure, minio, ...")


class DataResourcesSpec(Model):
    """Data agents must never mutate: a mutation of any of these is a data mutation."""

    backupMaxAge: Duration = Field("24h", description="Backups older than this are findings.")
    databases: list[DataResourceRef] = Field(
        default_factory=list, max_length=256, description="Databases."
    )
    persistentStorage: list[DataResourceRef] = Field(
        default_factory=list, max_length=256, description="Persistent volumes and claims."
    )
    objectStorage: list[ObjectStorageRef] = Field(
        default_factory=list, max_length=256, description="Buckets."
    )


class MCPServerSpec(Model):
    """An MCP server the agent may call."""

    endpoint: HttpUrl = Field(description="Server URL (http or https).")
    capabilities: list[str] = Field(
        default_factory=list, max_length=64, description="What it offers."
    )


class AgentEnvironmentSpec(Model):
    """A site binding: where an agent runs and what it must never touch."""

    connection: ConnectionSpec | None = Field(None, description="How to reach the cluster.")
    endpoints: dict[DnsLabel, EndpointSpec] = Field(
        default_factory=dict, description="HTTP endpoints by name."
    )
    namespaces: NamespaceMap | None = Field(None, description="Namespaces by role.")
    credentials: dict[DnsLabel, CredentialRef] = Field(
        default_factory=dict, description="Credentials by name."
    )
    channels: dict[DnsLabel, ChannelSpec] = Field(
        default_factory=dict, description="Channels by name."
    )
    dataResources: DataResourcesSpec | None = Field(None, description="Protected data.")
    mcpServers: dict[DnsLabel, MCPServerSpec] = Field(
        default_factory=dict, description="MCP servers by name."
    )

    @model_validator(mode="after")
    def _credentials_exist(self) -> AgentEnvironmentSpec:
        for name, endpoint in sorted(self.endpoints.items()):
            if endpoint.credential and endpoint.credential not in self.credentials:
                raise FieldPathError(
                    f"endpoint {name!r} binds credential {endpoint.credential!r}, "
                    "which is not in spec.credentials",
                    "endpoints",
                    name,
                    "credential",
                )
        return self


class EnvironmentPhase(StrEnum):
    PENDING = "Pending"
    READY = "Ready"
    ERROR = "Error"


class AgentEnvironmentStatus(Model):
    """The observed state of an environment."""

    observedGeneration: int | None = Field(None, ge=0, description="Generation last acted on.")
    phase: EnvironmentPhase | None = Field(None, description="Pending, Ready or Error.")
    conditions: list[Condition] = conditions_field()


class AgentEnvironment(Model):
    """A site binding for agents: endpoints, namespaces, credentials and protected data."""

    apiVersion: Literal["core.infraagent.io/v1alpha1"] = Field(description=GROUP_VERSION)
    kind: Literal["AgentEnvironment"] = Field(description="AgentEnvironment")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: AgentEnvironmentSpec = Field(description="The site binding.")
    status: AgentEnvironmentStatus | None = Field(None, description="The observed state.")
