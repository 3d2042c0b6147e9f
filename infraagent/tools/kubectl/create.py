"""``create <kind>``: simple objects (namespace, service account, config map, secrets, quota,
priority class, pod disruption budget) and service account tokens.

Every ``create <kind> NAME`` is one ``create`` request whose body is the object kubectl
would send (``apiVersion``, ``kind``, ``metadata.name``, ``metadata.namespace`` when ``-n``
is given and the kind is namespaced, and what the flags set) and whose resource token is
``<Kind>.<version>.<group>``, as for manifests (``Secret.v1.``, ``PriorityClass.v1.
scheduling.k8s.io``). Flags that read local files (``--from-file``, ``--from-env-file``,
``--cert``, ``--key``) are refused as ``parse/file-input``; ``--append-hash`` (the name
gains a hash suffix) is recorded as the option ``append-hash``.

``create token SA`` is a ``create`` on ``serviceaccounts`` subresource ``token`` named SA,
body a ``TokenRequest`` (``--duration`` recorded as the option ``duration=...``).

Shared helpers for the other ``create`` modules live here too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.kubectl.flags import (
    GLOBAL,
    MUTATE,
    Flag,
    FlagTable,
    boolean,
    file,
    go_int,
    optional,
    value,
)
from infraagent.tools.kubectl.targets import Ctx, check_name, syntax

_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_EQUALITY = re.compile(r"[-A-Za-z0-9_./]+==?[-A-Za-z0-9_.]*")
_INT_OR_PERCENT = re.compile(r"[0-9]+%?")

CREATE_COMMON: Final = (*GLOBAL, *MUTATE, optional("validate", "strict"), boolean("save-config"))


def table(*flags: Flag) -> FlagTable:
    return FlagTable.of(CREATE_COMMON, flags)


def single_name(ctx: Ctx, kind: str, *, command: bool = False) -> str:
    """The one NAME argument; ``command`` allows ``-- COMMAND [ARGS...]`` after it."""
    args = ctx.args
    words = args.positionals if args.dash is None else args.positionals[: args.dash]
    if len(words) != 1:
        raise syntax(f"create {kind} takes exactly one NAME")
    if args.dash is not None and not command and len(args.positionals) > args.dash:
        raise syntax(f"create {kind} takes no command after --")
    return check_name(words[0])


def after_dash(ctx: Ctx) -> list[str]:
    dash = ctx.args.dash
    return ctx.args.positionals[dash:] if dash is not None else []


def metadata(ctx: Ctx, name: str, *, namespaced: bool = True, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name}
    if namespaced and ctx.namespace is not None:
        found["namespace"] = ctx.namespace
    found.update((key, item) for key, item in extra.items() if item)
    return found


def created(
    ctx: Ctx, resource: str, body: dict[str, Any], options: Iterable[str] = ()
) -> list[KubeRequest]:
    name = body["metadata"]["name"]
    return [ctx.req("create", resource, name, body=body, options=frozenset(options))]


def key_values(items: Iterable[str], flag: str, *, unique: bool = True) -> dict[str, str]:
    """``k=v`` items (values may contain ``=``); duplicate keys refused when ``unique``."""
    found: dict[str, str] = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise syntax(f"--{flag} takes KEY=VALUE, not {item!r}")
        if unique and key in found:
            raise syntax(f"--{flag}: key {key!r} is given twice")
        found[key] = text
    return found


def _hash_option(ctx: Ctx) -> list[str]:
    return ["append-hash"] if ctx.args.flag("append-hash") else []


NAMESPACE_FLAGS: Final = table()
SERVICEACCOUNT_FLAGS: Final = table()
CONFIGMAP_FLAGS: Final = table(
    value("from-literal"), file("from-file"), file("from-env-file"), boolean("append-hash")
)
SECRET_GENERIC_FLAGS: Final = table(
    value("from-literal"), file("from-file"), file("from-env-file"), value("type"),
    boolean("append-hash"),
)  # fmt: skip
SECRET_TLS_FLAGS: Final = table(file("cert"), file("key"), boolean("append-hash"))
SECRET_DOCKER_FLAGS: Final = table(
    value("docker-server"), value("docker-username"), value("docker-password"),
    value("docker-email"), file("from-file"), boolean("append-hash"),
)  # fmt: skip
QUOTA_FLAGS: Final = table(value("hard"), value("scopes"))
PRIORITYCLASS_FLAGS: Final = table(
    value("value"), boolean("global-default"), value("description"), value("preemption-policy")
)
PDB_FLAGS: Final = table(value("selector"), value("min-available"), value("max-unavailable"))
TOKEN_FLAGS: Final = FlagTable.of(
    GLOBAL,
    MUTATE,
    (
        value("audience"), value("duration"), value("bound-object-kind"),
        value("bound-object-name"), value("bound-object-uid"),
    ),
)  # fmt: skip


def namespace(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "namespace")
    meta = metadata(ctx, name, namespaced=False)
    return created(
        ctx, "Namespace.v1.", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
    )


def serviceaccount(ctx: Ctx) -> list[KubeRequest]:
    meta = metadata(ctx, single_name(ctx, "serviceaccount"))
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return created(ctx, "ServiceAccount.v1.", body)


def _literals(ctx: Ctx) -> dict[str, str]:
    data = key_values(ctx.args.all("from-literal"), "from-literal")
    for key in data:
        if _KEY.fullmatch(key) is None:
            raise syntax(f"{key!r} is not a valid config map or secret key")
    return data


def configmap(ctx: Ctx) -> list[KubeRequest]:
    meta = metadata(ctx, single_name(ctx, "configmap"))
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": _literals(ctx)}
    return created(ctx, "ConfigMap.v1.", body, _hash_option(ctx))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _secret(ctx: Ctx, name: str, kind: str | None, data: dict[str, str]) -> list[KubeRequest]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata(ctx, name)}
    if kind:
        body["type"] = kind
    body["data"] = {key: _b64(text) for key, text in data.items()}
    return created(ctx, "Secret.v1.", body, _hash_option(ctx))


def secret_generic(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "secret generic")
    return _secret(ctx, name, ctx.args.last("type"), _literals(ctx))


def secret_tls(ctx: Ctx) -> list[KubeRequest]:
    single_name(ctx, "secret tls")
    raise syntax("create secret tls needs --cert and --key files, which cannot be passed")


def secret_docker_registry(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "secret docker-registry")
    args = ctx.args
    user, password = args.last("docker-username"), args.last("docker-password")
    if not user or not password:
        raise syntax("create secret docker-registry needs --docker-username and --docker-password")
    server = args.last("docker-server") or "https://index.docker.io/v1/"
    entry = {"username": user, "password": password, "auth": _b64(f"{user}:{password}")}
    if args.last("docker-email"):
        entry["email"] = args.last("docker-email") or ""
    config = json.dumps({"auths": {server: entry}}, separators=(",", ":"))
    return _secret(ctx, name, "kubernetes.io/dockerconfigjson", {".dockerconfigjson": config})


def quota(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "quota")
    spec: dict[str, Any] = {}
    hard = ctx.args.last("hard")
    if hard:
        spec["hard"] = key_values(hard.split(","), "hard")
    scopes = ctx.args.csv("scopes")
    if scopes:
        spec["scopes"] = scopes
    meta = metadata(ctx, name)
    body = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta, "spec": spec}
    return created(ctx, "ResourceQuota.v1.", body)


def priorityclass(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "priorityclass")
    body: dict[str, Any] = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": metadata(ctx, name, namespaced=False),
        "value": go_int(args.last("value") or "0", "value"),
        "globalDefault": args.flag("global-default"),
        "preemptionPolicy": args.last("preemption-policy") or "PreemptLowerPriority",
    }
    if args.last("description"):
        body["description"] = args.last("description")
    return created(ctx, "PriorityClass.v1.scheduling.k8s.io", body)


def match_labels(selector: str, flag: str) -> dict[str, str]:
    """An equality-only label selector (``a=b,c==d``) as ``matchLabels``."""
    parts = selector.split(",")
    if not selector or any(_EQUALITY.fullmatch(part) is None for part in parts):
        raise syntax(f"--{flag} supports only KEY=VALUE[,KEY=VALUE] here, not {selector!r}")
    return {key: text.lstrip("=") for key, _, text in (part.partition("=") for part in parts)}


def _int_or_percent(text: str, flag: str) -> int | str:
    if _INT_OR_PERCENT.fullmatch(text) is None:
        raise syntax(f"--{flag} takes a number or a percentage, not {text!r}")
    return text if text.endswith("%") else go_int(text, flag)


def poddisruptionbudget(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "poddisruptionbudget")
    given = [flag for flag in ("min-available", "max-unavailable") if args.has(flag)]
    if len(given) != 1 or not args.last("selector"):
        raise syntax("create pdb needs --selector and one of --min-available / --max-unavailable")
    flag = given[0]
    key = "minAvailable" if flag == "min-available" else "maxUnavailable"
    spec = {
        "selector": {"matchLabels": match_labels(args.last("selector") or "", "selector")},
        key: _int_or_percent(args.last(flag) or "", flag),
    }
    meta = metadata(ctx, name)
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta}
    return created(ctx, "PodDisruptionBudget.v1.policy", {**body, "spec": spec})


def token(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    account = single_name(ctx, "token")
    spec: dict[str, Any] = {}
    if args.all("audience"):
        spec["audiences"] = args.all("audience")
    if args.has("bound-object-kind"):
        bound = {"kind": args.last("bound-object-kind"), "name": args.last("bound-object-name")}
        if args.last("bound-object-uid"):
            bound["uid"] = args.last("bound-object-uid")
        spec["boundObjectRef"] = bound
    duration = args.last("duration")
    options = frozenset({f"duration={duration}"}) if duration else frozenset()
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    request = ctx.req(
        "create", "serviceaccounts", account, subresource="token", body=body, options=options
    )
    return [request]
