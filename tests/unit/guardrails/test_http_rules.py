"""HTTP safety and data rules over normalised requests."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address

import pytest

from infraagent.guardrails.http_rules import (
    DEFAULT_KUBE_API_HOSTS,
    HttpPolicy,
    address_rule,
    endpoint_from_url,
    http_data_rule,
    http_safety,
    kube_api_hosts,
    matching_endpoint,
    object_storage_host,
    sql_mutation,
)
from infraagent.models.requests import HttpRequest
from infraagent.tools.http import parse_http

ENDPOINTS = (
    endpoint_from_url("status", "https://status.example.com/", "service", None),
    endpoint_from_url("grafana", "http://10.0.0.5:3000/", "service", "grafana-token"),
    endpoint_from_url("api", "https://API.Example.com/v1", "service", "api-key"),
    endpoint_from_url("api-admin", "https://api.example.com/v1/admin/", "service", None),
    endpoint_from_url("couch", "https://couch.db.internal:6984/", "database", "couch"),
    endpoint_from_url("platform", "https://platform.example.com/", "service", None),
    endpoint_from_url("platform-db", "https://platform.example.com/sql", "database", None),
    endpoint_from_url("backups", "https://backups.example.net/", "object-storage", None),
)
POLICY = HttpPolicy(
    endpoints=ENDPOINTS,
    kube_api_hosts=kube_api_hosts("10.96.0.1", "https://API.Cluster.Example.com:6443"),
    object_storage_buckets=frozenset({"pg-backups"}),
)


def request(url: str, method: str = "GET", body: str | None = None) -> HttpRequest:
    return parse_http({"method": method, "url": url, **({"body": body} if body else {})})


def safety_rule(url: str, policy: HttpPolicy = POLICY) -> str | None:
    refusal = http_safety(request(url), policy)
    return refusal[0] if refusal else None


def data_rule(url: str, method: str = "POST", body: str | None = None) -> str | None:
    refusal = http_data_rule(request(url, method, body), POLICY)
    return refusal[0] if refusal else None


LOOPBACK = [
    "http://127.0.0.1/", "http://127.1/", "http://127.0.1/", "http://2130706433/",
    "http://0x7f000001/", "http://0x7F.1/", "http://0177.0.0.1/", "http://017700000001/",
    "http://127.255.255.254:8080/", "http://127.0.0.1./", "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://[::127.0.0.1]/",
    "http://localhost/", "http://LOCALHOST./", "http://api.localhost/",
    "http://ｌｏｃａｌｈｏｓｔ/", "http://%6c%6fcalhost/", "http://ip6-localhost/",
    "http://localtest.me/", "http://app.lvh.me/", "http://127.0.0.1.nip.io/",
    "http://app-127-0-0-1.sslip.io/", "http://7f000001.nip.io/",
]  # fmt: skip
METADATA = [
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/", "http://169.254.43518/", "http://0xa9.0xfe.0xa9.0xfe/",
    "http://[::ffff:169.254.169.254]/", "http://[::ffff:a9fe:a9fe]/", "http://[fd00:ec2::254]/",
    "http://[FD00:EC2:0::254]/", "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./", "http://metadata/", "http://100.100.100.200/",
    "http://169.254.170.2/v2/credentials", "http://169.254.169.254.nip.io/",
    "http://[64:ff9b::a9fe:a9fe]/",
]  # fmt: skip
LINK_LOCAL = [
    "http://169.254.1.1/", "http://2851995905/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    "http://[FEBF::1]/", "http://[::ffff:169.254.0.1]/",
]  # fmt: skip
UNSPECIFIED = ["http://0.0.0.0/", "http://0/", "http://0x0/", "http://[::]/", "http://0.1.2.3/"]
PRIVATE = [
    "http://10.0.0.1/", "http://10.1/", "http://167772161/", "http://0xa000001/",
    "http://012.0.0.1/", "http://172.16.0.1/", "http://172.31.255.255/", "http://192.168.1.1/",
    "http://3232235777/", "http://100.64.0.1/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
    "http://[::ffff:10.0.0.1]/", "http://[::ffff:192.168.0.1]/", "http://10.0.0.9.nip.io/",
    "http://198.18.0.1/", "http://224.0.0.1/", "http://255.255.255.255/",
]  # fmt: skip
KUBE_API = [
    "https://kubernetes/", "https://kubernetes.default/", "https://kubernetes.default.svc/",
    "https://kubernetes.default.svc.cluster.local/api/v1/secrets",
    "https://KUBERNETES.DEFAULT.SVC.CLUSTER.LOCAL./", "https://kubernetes.default.svc.corp.example/",
    "https://kubernetes:6443/", "http://kubernetes.default.svc:80/", "https://10.96.0.1/",
    "https://[::ffff:10.96.0.1]/", "https://0xa600001/", "https://api.cluster.example.com/",
    "https://api.cluster.example.com:6443/api/v1/namespaces",
]  # fmt: skip


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_in_every_spelling_is_refused(url: str) -> None:
    assert safety_rule(url) == "http/loopback"


@pytest.mark.parametrize("url", METADATA)
def test_metadata_endpoints_in_every_spelling_are_refused(url: str) -> None:
    assert safety_rule(url) == "http/metadata-endpoint"


@pytest.mark.parametrize("url", LINK_LOCAL)
def test_link_local_is_refused(url: str) -> None:
    assert safety_rule(url) == "http/link-local"


@pytest.mark.parametrize("url", UNSPECIFIED)
def test_unspecified_is_refused(url: str) -> None:
    assert safety_rule(url) == "http/unspecified"


@pytest.mark.parametrize("url", PRIVATE)
def test_undeclared_private_addresses_are_refused(url: str) -> None:
    assert safety_rule(url) == "http/private-address"


@pytest.mark.parametrize("url", KUBE_API)
def test_the_api_server_under_any_name_is_refused(url: str) -> None:
    assert safety_rule(url) == "http/kube-apiserver"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "gopher://example.com/", "ws://example.com/", "dict://h:11211/"]
)
def test_other_schemes_are_refused(url: str) -> None:
    """The parser refuses them first; the safety rule holds on its own too."""
    scheme, _, rest = url.partition("://")
    as_http = request("http://" + rest)
    assert http_safety(dataclasses.replace(as_http, scheme=scheme), POLICY) is not None


def test_a_declared_private_endpoint_opens_only_its_own_port() -> None:
    assert safety_rule("http://10.0.0.5:3000/") is None
    assert safety_rule("http://10.0.0.5:9090/") == "http/private-address"
    assert safety_rule("https://10.0.0.5:3000/") == "http/private-address"


@pytest.mark.parametrize(
    "url",
    [
        "https://status.example.com/", "https://STATUS.example.com./health", "http://10.0.0.5:3000/",
        "http://167772165:3000/", "https://8.8.8.8/",
        "https://api.github.com/repos", "http://grafana.monitoring.svc:3000/",
        "https://kubernetes-dashboard.example.com/", "https://mykubernetes/",
        "https://[2606:4700::1111]/", "http://172.32.0.1/", "https://minions.example.com/",
    ],
)  # fmt: skip
def test_public_and_declared_targets_pass(url: str) -> None:
    assert safety_rule(url) is None


def test_a_declared_private_host_is_allowed_only_for_that_host() -> None:
    assert safety_rule("http://10.0.0.5:3000/") is None
    assert safety_rule("http://10.0.0.6:3000/") == "http/private-address"
    assert safety_rule("http://10.0.0.5:3000/", HttpPolicy()) == "http/private-address"


def test_declaring_a_dangerous_host_does_not_make_it_safe() -> None:
    declared = HttpPolicy(
        endpoints=(
            endpoint_from_url("meta", "http://169.254.169.254/", "service", None),
            endpoint_from_url("local", "http://127.0.0.1:8080/", "service", None),
            endpoint_from_url("api", "https://10.96.0.1/", "service", None),
        ),
        kube_api_hosts=kube_api_hosts("10.96.0.1"),
    )
    assert safety_rule("http://169.254.169.254/", declared) == "http/metadata-endpoint"
    assert safety_rule("http://127.0.0.1:8080/", declared) == "http/loopback"
    assert safety_rule("https://10.96.0.1/", declared) == "http/kube-apiserver"


def test_the_policy_normalises_its_kube_api_hosts() -> None:
    policy = HttpPolicy(
        kube_api_hosts=frozenset({"KUBERNETES", "0xa600001", "Api.Example.", "FD00:10:96:0::1"})
    )
    assert {"10.96.0.1", "api.example", "fd00:10:96::1"} <= policy.kube_api_hosts
    assert safety_rule("https://[fd00:10:96::1]:443/", policy) == "http/kube-apiserver"
    assert policy.kube_api_hosts >= DEFAULT_KUBE_API_HOSTS
    assert safety_rule("https://api.example/", policy) == "http/kube-apiserver"


def test_refusal_reasons_name_the_request() -> None:
    refusal = http_safety(request("http://2130706433/x"), POLICY)
    assert refusal is not None and "GET http://127.0.0.1/x" in refusal[1]


def test_address_rule_for_resolved_addresses() -> None:
    assert address_rule(ip_address("127.0.0.2"))[0] == "http/loopback"  # type: ignore[index]
    assert address_rule(ip_address("169.254.169.254"))[0] == "http/metadata-endpoint"  # type: ignore[index]
    assert address_rule(ip_address("::ffff:169.254.1.1"))[0] == "http/link-local"  # type: ignore[index]
    assert address_rule(ip_address("93.184.216.34")) is None
    assert address_rule(ip_address("10.0.0.1")) is None


# ------------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://api.example.com/v1", "api"),
        ("https://api.example.com/v1/", "api"),
        ("https://api.example.com/v1/items/3", "api"),
        ("https://api.example.com:443/v1/items", "api"),
        ("https://api.example.com/v1/admin/users", "api-admin"),
        ("https://api.example.com/v1/x/../admin/users", "api-admin"),
        ("http://167772165:3000/d/abc", "grafana"),
        ("https://status.example.com/anything", "status"),
    ],
)
def test_matching_endpoint(url: str, name: str) -> None:
    found = matching_endpoint(request(url), POLICY)
    assert found is not None and found.name == name


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v1",
        "https://api.example.com:8443/v1",
        "https://api.example.com/v10",
        "https://api.example.com/",
        "https://api.example.com/v1/../v2",
        "https://api.example.com.evil.example/v1",
        "http://10.0.0.5/",
    ],
)
def test_no_endpoint_without_an_exact_origin_and_prefix(url: str) -> None:
    assert matching_endpoint(request(url), POLICY) is None


def test_endpoints_are_normalised() -> None:
    endpoint = endpoint_from_url("x", "HTTPS://Example.COM.:443/a/./b", "database", "c")
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.path_prefix) == (
        "https",
        "example.com",
        443,
        "/a/b",
    )


# ------------------------------------------------------------------------------ data rules

OBJECT_STORAGE = [
    "https://s3.amazonaws.com/bucket/key", "https://bucket.s3.amazonaws.com/key",
    "https://s3.eu-west-1.amazonaws.com/bucket/key", "https://s3-eu-west-1.amazonaws.com/b/k",
    "https://bucket.s3.us-east-2.amazonaws.com/k", "https://s3.dualstack.us-east-1.amazonaws.com/b",
    "https://b.s3-accesspoint.us-east-1.amazonaws.com/", "https://s3.cn-north-1.amazonaws.com.cn/b",
    "https://b--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com/k",
    "https://storage.googleapis.com/bucket/obj", "https://bucket.storage.googleapis.com/obj",
    "https://www.googleapis.com/storage/v1/b/bucket/o/obj",
    "https://www.googleapis.com/upload/storage/v1/b/bucket/o",
    "https://acct.blob.core.windows.net/c/b", "https://acct.dfs.core.windows.net/fs/p",
    "https://acct.blob.core.usgovcloudapi.net/c", "https://acct.file.core.windows.net/share",
    "http://minio:9000/bucket/key", "http://minio.minio-system.svc:9000/b",
    "https://my-minio.example.com/b", "http://rook-ceph-rgw-store.rook-ceph.svc/b",
    "https://nyc3.digitaloceanspaces.com/b", "https://acct.r2.cloudflarestorage.com/b",
    "https://s3.us-west-002.backblazeb2.com/b", "https://s3.wasabisys.com/b",
    "https://b.oss-cn-hangzhou.aliyuncs.com/k", "https://s3.fr-par.scw.cloud/b",
    "https://objectstorage.us-ashburn-1.oraclecloud.com/n/ns/b/b/o/k",
    "https://backups.example.net/anything", "https://BACKUPS.example.net:8443/x",
    "http://objects-s3gw.internal/pg-backups/base", "https://pg-backups.s3gw.internal/x",
]  # fmt: skip


@pytest.mark.parametrize("url", OBJECT_STORAGE)
@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
def test_writes_to_object_storage_are_data_mutations(url: str, method: str) -> None:
    assert data_rule(url, method) == "data-protection/object-storage"


@pytest.mark.parametrize("url", OBJECT_STORAGE)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_of_object_storage_are_not(url: str, method: str) -> None:
    assert data_rule(url, method) is None


@pytest.mark.parametrize(
    "host",
    [
        "api.github.com", "minions.example.com", "bergwerk.example", "s3curity.example.com",
        "www.googleapis.com", "blob.example.com", "amazonaws.com", "ec2.us-east-1.amazonaws.com",
        "hooks.slack.com",
    ],
)  # fmt: skip
def test_other_hosts_are_not_object_storage(host: str) -> None:
    assert not object_storage_host(host, "/v1/x")


def test_database_endpoints() -> None:
    assert data_rule("https://couch.db.internal:6984/db/doc", "PUT") == (
        "data-protection/database-endpoint"
    )
    assert data_rule("http://couch.db.internal/db", "DELETE") == "data-protection/database-endpoint"
    assert data_rule("https://couch.db.internal:6984/db/_all_docs", "GET") is None
    assert data_rule("https://platform.example.com/sql/query", "POST") == (
        "data-protection/database-endpoint"
    )
    assert data_rule("https://platform.example.com/deploy", "POST") is None
    assert data_rule("https://status.example.com/", "POST") is None


SQL_POSITIVE = [
    ("DROP TABLE users", "DROP"), ("drop table if exists users cascade", "DROP"),
    ("DROP DATABASE prod", "DROP"), ("Drop Schema public", "DROP"), ("DROP INDEX i", "DROP"),
    ("DROP/**/TABLE users", "DROP"), ("/*!50000DROP*/ TABLE users", "DROP"),
    ("DROP -- hidden\nTABLE users", "DROP"), ("DROP\tTABLE\nusers", "DROP"),
    ("DROP KEYSPACE ks", "DROP"), ("DROP MEASUREMENT cpu", "DROP"),
    ("select 1; drop view v", "DROP"), ("TRUNCATE users", "TRUNCATE"),
    ("truncate table users", "TRUNCATE"), ("TRUNCATE users, orders CASCADE", "TRUNCATE"),
    ("TRUNCATE ONLY users", "TRUNCATE"), ("DELETE FROM users", "DELETE"),
    ("delete from users where id = 1", "DELETE"), ("DELETE LOW_PRIORITY FROM t", "DELETE"),
    ("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", "DELETE"),
    ("WITH old AS (SELECT 1) DELETE FROM t", "DELETE"), ("MATCH (n) DETACH DELETE n", "DELETE"),
    ("UPDATE users SET admin = true", "UPDATE"), ('update "Users" set "x"=1', "UPDATE"),
    ("UPDATE public.users u SET a = 1", "UPDATE"), ("UPDATE `db`.`t` SET c=1", "UPDATE"),
    ("UPDATE t SET (a, b) = (1, 2)", "UPDATE"), ("UPDATE t1 JOIN t2 ON 1 SET t1.a = 2", "UPDATE"),
    ("ALTER TABLE users DROP COLUMN email", "ALTER"), ("alter database prod owner to x", "ALTER"),
    ("ALTER SYSTEM SET wal_level = minimal", "ALTER"), ("ALTER USER app PASSWORD 'x'", "ALTER"),
    ("INSERT INTO users VALUES (1)", "INSERT"), ("insert ignore into t values (1)", "INSERT"),
    ("INSERT OR REPLACE INTO t VALUES (1)", "INSERT"), ("INSERT OVERWRITE TABLE t", "INSERT"),
    ("REPLACE INTO t VALUES (1)", "REPLACE"), ("MERGE INTO t USING s ON t.id = s.id", "MERGE"),
    ("UPSERT INTO t VALUES (1)", "UPSERT"),
]  # fmt: skip
SQL_NEGATIVE = [
    '{"status": "deleted"}', '{"truncate": true}', '{"action": "delete", "from": "cache"}',
    "update the set of pods", "please update the replica set", "drop events older than a day",
    "the message was truncated", "select * from users where name = 'drop'", "Deleted 3 pods",
    "insert coin", "ALTERNATIVE", "dropdown table", "updated_at set", "delete pods from node-3",
    "truncate the log file please", "we dropped the table tennis match", "update status",
    "DELETE /api/v1/namespaces/x", "kubectl delete pod web-0", "drop_table(1)",
    "alter ego", "merge request !42 into main", "SELECT count(*) FROM orders",
    '{"op": "replace", "path": "/spec/replicas", "value": 3}', "Restart deployment/web",
]  # fmt: skip


@pytest.mark.parametrize(("text", "keyword"), SQL_POSITIVE)
def test_sql_that_changes_data_is_found(text: str, keyword: str) -> None:
    assert sql_mutation(text) == keyword


@pytest.mark.parametrize("text", SQL_NEGATIVE)
def test_text_that_is_not_mutating_sql_is_not(text: str) -> None:
    assert sql_mutation(text) is None


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "https://status.example.com/query", '{"query": "drop table x"}'),
        ("POST", "https://status.example.com/query", '{"q": "DROP\\u0020TABLE x"}'),
        ("POST", "https://status.example.com/query", '{"s": ["ok", {"sql": "DELETE\\nFROM t"}]}'),
        ("POST", "https://status.example.com/query", "sql=DELETE+FROM+t"),
        ("POST", "https://status.example.com/query", "sql=UPDATE%20t%20SET%20a%3D1"),
        ("GET", "https://status.example.com/query", "TRUNCATE users;"),
        ("GET", "https://status.example.com/query?q=DROP+TABLE+x", None),
        ("GET", "https://status.example.com/query?q=drop%20database%20prod", None),
        ("GET", "https://couch.db.internal:6984/_sql?q=INSERT%20INTO%20t%20VALUES(1)", None),
        ("OPTIONS", "https://api.example.com/v1?x=1&sql=alter+table+t+add+c+int", None),
    ],
)
def test_sql_in_any_request_is_a_data_mutation(method: str, url: str, body: str | None) -> None:
    assert data_rule(url, method, body) == "data-protection/sql"


def test_ordinary_json_bodies_pass() -> None:
    body = '{"text": "Deployment web updated; 3 pods deleted", "status": "update"}'
    assert data_rule("https://status.example.com/notify", "POST", body) is None
    assert data_rule("https://status.example.com/q?status=deleted&sort=updated", "GET") is None


def test_sql_is_found_in_awkward_places() -> None:
    assert sql_mutation("İİİ drop table x") == "DROP"  # lower() changes the length
    columns = ", ".join(".".join(['"' + "c" * 128 + '"'] * 4) for _ in range(16))
    assert sql_mutation(f"UPDATE {columns} SET x = 1") == "UPDATE"
    nested = "[" * 500 + '"drop table x"' + "]" * 500
    assert data_rule("https://status.example.com/q", "POST", nested) == "data-protection/sql"
    padded = '{"a": "' + "x " * 50_000 + 'truncate users;"}'
    assert data_rule("https://status.example.com/q", "POST", padded) == "data-protection/sql"


def test_separate_json_strings_do_not_form_sql() -> None:
    body = '{"verb": "delete", "note": "from yesterday", "k": ["drop", "table t"]}'
    assert data_rule("https://status.example.com/q", "POST", body) is None
