"""HTTP safety and data rules over one normalised ``HttpRequest``.

``http_safety`` refuses targets no agent may reach, first rule wins: a scheme other than
http/https, cloud metadata services, loopback, link-local and unspecified addresses, the
Kubernetes API server under any of its names, and private-range IP literals the
environment does not declare. IPv6 addresses that embed an IPv4 address (mapped, NAT64,
6to4, Teredo, IPv4-compatible) are judged by both. Hosts of wildcard-DNS services that
spell an address in their name (``127.0.0.1.nip.io``) are judged by that address.

``http_data_rule`` finds data mutations: a non-read request (anything but GET, HEAD and
OPTIONS) to a declared object-storage or database endpoint or to a well-known
object-storage host (S3 and S3-compatible services, GCS, Azure storage, MinIO, Ceph RGW,
a declared bucket), and SQL that changes data in any request's body or query string, to
any host, since a data API can live anywhere (``data-protection/sql``).

Requests arrive already normalised (``infraagent.guardrails.urls``), so every rule compares
canonical spellings. DNS names are not resolved here: whoever opens the connection should
check the resolved address with ``address_rule`` as well. Nothing here reads Action Sheets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Final

from infraagent.guardrails.sql import sql_in_http, sql_mutation
from infraagent.guardrails.urls import IpAddress, ip_of, normalise_host, split_url
from infraagent.models.requests import HttpRequest, ParseError

__all__ = [
    "DEFAULT_KUBE_API_HOSTS",
    "READ_METHODS",
    "HttpEndpoint",
    "HttpPolicy",
    "address_rule",
    "endpoint_from_url",
    "http_data_rule",
    "http_safety",
    "kube_api_hosts",
    "matching_endpoint",
    "object_storage_host",
    "sql_mutation",
]

Refusal = tuple[str, str]
Network = IPv4Network | IPv6Network

READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_KUBE_API_HOSTS: Final = frozenset(
    {"kubernetes", "kubernetes.default", "kubernetes.default.svc"}
    | {"kubernetes.default.svc.cluster.local"}
)
_KUBE_NAME: Final = re.compile(r"kubernetes(?:\.default(?:\.svc(?:\..+)?)?)?")

_METADATA_NAMES: Final = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.internal"}
    | {"instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com"}
    | {"metadata.platformequinix.com", "metadata.packet.net"}
)
_METADATA_ADDRESSES: Final = frozenset(
    {IPv4Address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200")}
    | {IPv4Address("192.0.0.192")}
    | {IPv6Address(a) for a in ("fd00:ec2::254", "fd00:ec2::23", "fd20:ce::254")}
)
_LOOPBACK_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localtest.me"}
    | {"lvh.me"}
)
_LOOPBACK_SUFFIXES: Final = (".localhost", ".localtest.me", ".lvh.me")
_WILDCARD_DNS: Final = re.compile(
    r"(?:^|.*[.-])(\d{1,3})[.-](\d{1,3})[.-](\d{1,3})[.-](\d{1,3})\.(?:nip\.io|sslip\.io|xip\.io)"
    r"|(?:^|.*[.-])([0-9a-f]{8})\.(?:nip\.io|sslip\.io)"
)


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ip_network(c) for c in cidrs)


_LOOPBACK: Final = _nets("127.0.0.0/8", "::1/128")
_LINK_LOCAL: Final = _nets("169.254.0.0/16", "fe80::/10")
_UNSPECIFIED: Final = _nets("0.0.0.0/8", "::/128")
_PRIVATE: Final = _nets(
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.0.0/24",
    "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "fc00::/7", "fec0::/10", "ff00::/8",
)  # fmt: skip
_EMBEDDING: Final = _nets("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")

_NEVER: Final = "is never reachable by agents"
_METADATA: Final = ("http/metadata-endpoint", f"a cloud metadata service {_NEVER}")
_ADDRESS_RULES: Final = (
    (_LOOPBACK, ("http/loopback", f"a loopback address {_NEVER}")),
    (_LINK_LOCAL, ("http/link-local", f"a link-local address {_NEVER}")),
    (_UNSPECIFIED, ("http/unspecified", f"an unspecified address {_NEVER}")),
)
_KUBE_API: Final = (
    "http/kube-apiserver",
    "the Kubernetes API server is reached only through the kubectl tool",
)
_PRIVATE_ADDRESS: Final = (
    "http/private-address",
    "a private or reserved address that no endpoint of the environment declares",
)


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """A declared endpoint of the environment, normalised like requests are."""

    name: str
    scheme: str
    host: str
    port: int
    path_prefix: str
    kind: str  # "service" | "database" | "object-storage"
    credential: str | None


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """What the HTTP rules need from an environment; host names are normalised on build."""

    endpoints: tuple[HttpEndpoint, ...] = ()
    kube_api_hosts: frozenset[str] = DEFAULT_KUBE_API_HOSTS
    object_storage_buckets: frozenset[str] = frozenset()
    endpoint_origins: frozenset[tuple[str, str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kube_api_hosts", kube_api_hosts(*self.kube_api_hosts))
        origins = frozenset((e.scheme, e.host, e.port) for e in self.endpoints)
        object.__setattr__(self, "endpoint_origins", origins)


def kube_api_hosts(*extra: str) -> frozenset[str]:
    """The default API-server names plus ``extra`` hosts, IPs or URLs, normalised."""
    hosts = set(DEFAULT_KUBE_API_HOSTS)
    for item in extra:
        try:
            hosts.add(_host_of(item))
        except ParseError:
            hosts.add(item.lower())
    return frozenset(hosts)


def _host_of(item: str) -> str:
    if "://" in item:
        return split_url(item).host
    if ":" in item and not item.startswith("["):
        return normalise_host(f"[{item}]")  # a bare IPv6 address
    return normalise_host(item)


def endpoint_from_url(name: str, url: str, kind: str, credential: str | None) -> HttpEndpoint:
    """A declared endpoint from its URL; ``ParseError`` when the URL is not usable."""
    parts = split_url(url)
    return HttpEndpoint(name, parts.scheme, parts.host, parts.port, parts.path, kind, credential)


def http_safety(request: HttpRequest, policy: HttpPolicy) -> Refusal | None:
    """(rule, reason) when no agent may send ``request`` whatever its sheets say."""
    if request.scheme not in ("http", "https"):
        return "http/scheme", f"{request.summary()}: only http and https are allowed"
    host = request.host
    address = ip_of(host)
    if address is None:
        address = _wildcard_dns_address(host)
    if address is None:
        refusal = _name_rule(host)
        addresses: tuple[IpAddress, ...] = ()
    else:
        addresses = _with_embedded(address)
        refusal = _addresses_rule(addresses)
    if refusal is None and _is_kube_api(host, addresses, policy):
        refusal = _KUBE_API
    declared = request.origin in policy.endpoint_origins
    if refusal is None and not declared and _any_in(addresses, _PRIVATE):
        refusal = _PRIVATE_ADDRESS
    if refusal is None:
        return None
    return refusal[0], f"{request.summary()}: {refusal[1]}"


def address_rule(address: IpAddress) -> Refusal | None:
    """Metadata, loopback, link-local or unspecified: for a resolved address at connect time."""
    return _addresses_rule(_with_embedded(address))


def _name_rule(host: str) -> Refusal | None:
    if host in _METADATA_NAMES:
        return _METADATA
    if host in _LOOPBACK_NAMES or host.endswith(_LOOPBACK_SUFFIXES):
        return "http/loopback", f"a loopback name {_NEVER}"
    return None


def _addresses_rule(addresses: tuple[IpAddress, ...]) -> Refusal | None:
    if any(a in _METADATA_ADDRESSES for a in addresses):
        return _METADATA
    for networks, refusal in _ADDRESS_RULES:
        if _any_in(addresses, networks):
            return refusal
    return None


def _with_embedded(address: IpAddress) -> tuple[IpAddress, ...]:
    """The address, plus any IPv4 address an IPv6 one carries."""
    if isinstance(address, IPv4Address):
        return (address,)
    found: list[IpAddress] = [address]
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.append(address.teredo[1])
    if any(address in net for net in _EMBEDDING) and int(address) > 1:
        found.append(IPv4Address(int(address) & 0xFFFFFFFF))
    return tuple(found)


def _any_in(addresses: tuple[IpAddress, ...], networks: tuple[Network, ...]) -> bool:
    return any(a.version == n.version and a in n for a in addresses for n in networks)


def _wildcard_dns_address(host: str) -> IpAddress | None:
    match = _WILDCARD_DNS.fullmatch(host)
    if match is None:
        return None
    if match.group(5):
        return IPv4Address(int(match.group(5), 16))
    octets = [int(match.group(i)) for i in range(1, 5)]
    return IPv4Address(".".join(map(str, octets))) if max(octets) <= 255 else None


def _is_kube_api(host: str, addresses: tuple[IpAddress, ...], policy: HttpPolicy) -> bool:
    if host in policy.kube_api_hosts or _KUBE_NAME.fullmatch(host):
        return True
    return any(str(a) in policy.kube_api_hosts for a in addresses)


def matching_endpoint(request: HttpRequest, policy: HttpPolicy) -> HttpEndpoint | None:
    """The declared endpoint ``request`` is for: same scheme, host and port, path under its
    prefix; the longest prefix wins. Credentials are injected only for this endpoint."""
    candidates = [
        e
        for e in policy.endpoints
        if (e.scheme, e.host, e.port) == request.origin and _under(request.path, e.path_prefix)
    ]
    return _longest_prefix(candidates)


def _longest_prefix(endpoints: list[HttpEndpoint]) -> HttpEndpoint | None:
    best: HttpEndpoint | None = None
    for endpoint in endpoints:
        if best is None or len(endpoint.path_prefix) > len(best.path_prefix):
            best = endpoint
    return best


def _under(path: str, prefix: str) -> bool:
    base = prefix.rstrip("/")
    return not base or path == base or path.startswith(base + "/")


# ------------------------------------------------------------------------------ data rules

_S3_SUFFIXES: Final = (".amazonaws.com", ".amazonaws.com.cn")
_OBJECT_STORAGE_SUFFIXES: Final = (
    "storage.googleapis.com", ".digitaloceanspaces.com", ".r2.cloudflarestorage.com",
    ".backblazeb2.com", ".wasabisys.com", ".linodeobjects.com", ".storage.yandexcloud.net",
    ".cloud-object-storage.appdomain.cloud", ".myqcloud.com",
)  # fmt: skip
_OBJECT_STORAGE_HOST: Final = re.compile(
    r"(?:.+\.)?(?:blob|dfs|file|table)\.(?:core\.(?:windows\.net|usgovcloudapi\.net"
    r"|chinacloudapi\.cn)|storage\.azure\.net)"
    r"|(?:.+\.)?objectstorage\.[a-z0-9-]+\.oraclecloud\.com"
    r"|(?:.+\.)?oss-[a-z0-9-]+\.aliyuncs\.com"
    r"|storage\.cloud\.google\.com|storage\.yandexcloud\.net"
)
_MINIO_OR_RGW: Final = re.compile(r"(?:^|[.-])(?:minio|min\.io|rgw)(?:[.-]|[0-9]|$)")
_GCS_JSON_API: Final = ("/storage/", "/upload/storage/", "/batch/storage/")


def object_storage_host(host: str, path: str = "/") -> bool:
    """Whether ``host`` (and ``path``) is a well-known object-storage API."""
    labels = host.split(".")
    if any(label == "s3" or label.startswith("s3-") for label in labels):
        return True  # AWS S3 and the S3-compatible services named after it
    if host.endswith(_S3_SUFFIXES) and any(label.startswith("s3") for label in labels):
        return True  # s3express-…, s3-accesspoint, s3-control, s3-fips
    if _MINIO_OR_RGW.search(host):
        return True  # MinIO, Ceph's RADOS Gateway (rook-ceph-rgw-…)
    if host.endswith(_OBJECT_STORAGE_SUFFIXES) or _OBJECT_STORAGE_HOST.fullmatch(host):
        return True
    return host == "www.googleapis.com" and path.startswith(_GCS_JSON_API)


def _declared_bucket(request: HttpRequest, buckets: frozenset[str]) -> bool:
    """A declared bucket, path-style or virtual-hosted, on a host that speaks S3 or MinIO."""
    if not buckets or ("s3" not in request.host and "minio" not in request.host):
        return False
    first_segment = request.path.split("/", 2)[1]
    return first_segment in buckets or request.host.split(".", 1)[0] in buckets


def _data_endpoint(request: HttpRequest, policy: HttpPolicy) -> HttpEndpoint | None:
    """The declared endpoint on this host that ``request`` is for, if it holds data.

    Any scheme or port of the host counts. On a host that also has service endpoints, the
    endpoint with the longest matching path prefix decides; a path no endpoint covers on a
    host with a data endpoint is data.
    """
    on_host = [e for e in policy.endpoints if e.host == request.host]
    if not any(e.kind != "service" for e in on_host):
        return None
    best = _longest_prefix([e for e in on_host if _under(request.path, e.path_prefix)])
    if best is None:
        return next(e for e in on_host if e.kind != "service")
    return best if best.kind != "service" else None


def http_data_rule(request: HttpRequest, policy: HttpPolicy) -> Refusal | None:
    """(rule, reason) when ``request`` would change or destroy data."""
    what = request.summary()
    if request.method not in READ_METHODS:
        declared = _data_endpoint(request, policy)
        if declared is not None and declared.kind == "object-storage":
            return "data-protection/object-storage", (
                f"{what}: a non-read request to the object-storage endpoint {declared.name!r}"
            )
        if object_storage_host(request.host, request.path) or _declared_bucket(
            request, policy.object_storage_buckets
        ):
            return "data-protection/object-storage", (
                f"{what}: a non-read request to object storage ({request.host})"
            )
        if declared is not None:
            return "data-protection/database-endpoint", (
                f"{what}: a non-read request to the database endpoint {declared.name!r}"
            )
    keyword = sql_in_http(request.body, request.query)
    if keyword is not None:
        return "data-protection/sql", f"{what}: carries SQL that changes data ({keyword})"
    return None
