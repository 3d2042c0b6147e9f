"""``create deployment|job|cronjob|service ...|ingress``: workloads and their networking.

Bodies follow what kubectl builds:

- ``deployment NAME --image=IMG... [--replicas=N] [--port=P] [-- COMMAND...]``: labels and
  selector ``app: NAME``, one container per image named after the image (``nginx`` for
  ``registry/nginx:1.25``), ``--port`` on the first container;
- ``job NAME --image=IMG [-- COMMAND...]``: one container named NAME, ``restartPolicy:
  Never``; ``job NAME --from=cronjob/CJ`` is a ``get`` of the cron job followed by a
  ``create`` of a Job whose template comes from it (unknown here: the body has an empty
  ``spec`` and the option ``from=cronjob/CJ``);
- ``cronjob NAME --image=IMG --schedule=S [--restart=OnFailure|Never] [-- COMMAND...]``;
- ``service clusterip|nodeport|loadbalancer|externalname NAME [--tcp=PORT[:TARGET]...]``:
  ``spec.type``, ``selector: {app: NAME}``, ports named ``PORT-TARGET``;
- ``ingress NAME --rule=HOST/PATH=SERVICE:PORT[,tls[=SECRET]]... [--class] [--default-backend]
  [--annotation=K=V]``: one rule per ``--rule``; a path ending in ``*`` is a ``Prefix``.
"""

from __future__ import annotations

from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.kubectl.create import (
    after_dash,
    created,
    key_values,
    metadata,
    single_name,
    table,
)
from infraagent.tools.kubectl.flags import go_int, value
from infraagent.tools.kubectl.targets import Ctx, split_type_name, syntax

_CRONJOB_TYPES: Final = frozenset({"cronjob", "cronjobs", "cj"})
_RESTART: Final = frozenset({"OnFailure", "Never"})

DEPLOYMENT_FLAGS: Final = table(value("image"), value("replicas", "r"), value("port"))
JOB_FLAGS: Final = table(value("image"), value("from"))
CRONJOB_FLAGS: Final = table(value("image"), value("schedule"), value("restart"))
SERVICE_FLAGS: Final = table(value("tcp"), value("clusterip"))
NODEPORT_FLAGS: Final = table(value("tcp"), value("node-port"))
LOADBALANCER_FLAGS: Final = table(value("tcp"))
EXTERNALNAME_FLAGS: Final = table(value("tcp"), value("external-name"))
INGRESS_FLAGS: Final = table(
    value("rule"), value("class"), value("default-backend"), value("annotation")
)


def _container_name(image: str, taken: set[str]) -> str:
    base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].replace("_", "-")
    name, suffix = base, 2
    while name in taken:
        name, suffix = f"{base}-{suffix}", suffix + 1
    taken.add(name)
    return name


def _containers(images: list[str], command: list[str], name: str | None = None) -> list[Any]:
    taken: set[str] = set()
    containers: list[dict[str, Any]] = []
    for image in images:
        container: dict[str, Any] = {"name": name or _container_name(image, taken), "image": image}
        if command:
            container["command"] = list(command)
        containers.append(container)
    return containers


def deployment(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "deployment", command=True)
    images, command = args.csv("image"), after_dash(ctx)
    if not images or "" in images:
        raise syntax("create deployment needs --image")
    if len(images) > 1 and command:
        raise syntax("a command cannot be given with several --image options")
    containers = _containers(images, command)
    port = args.last("port")
    if port is not None and go_int(port, "port") >= 0:
        containers[0]["ports"] = [{"containerPort": go_int(port, "port")}]
    labels = {"app": name}
    spec = {
        "replicas": go_int(args.last("replicas") or "1", "replicas", minimum=0),
        "selector": {"matchLabels": dict(labels)},
        "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}},
    }
    meta = metadata(ctx, name, labels=labels)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
    return created(ctx, "Deployment.v1.apps", body)


def _pod_template(ctx: Ctx, name: str, restart: str) -> dict[str, Any]:
    image = ctx.args.last("image")
    if not image:
        raise syntax("--image is required")
    containers = _containers([image], after_dash(ctx), name)
    return {"spec": {"containers": containers, "restartPolicy": restart}}


def job(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "job", command=True)
    source = args.last("from")
    if source is None:
        spec = {"template": _pod_template(ctx, name, "Never")}
        body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(ctx, name)}
        return created(ctx, "Job.v1.batch", {**body, "spec": spec})
    if args.has("image") or after_dash(ctx):
        raise syntax("--from cannot be combined with --image or a command")
    cronjob = split_type_name(source)
    if cronjob.resource.lower() not in _CRONJOB_TYPES:
        raise syntax("--from must name a cron job (cronjob/NAME)")
    annotations = {"cronjob.kubernetes.io/instantiate": "manual"}
    meta = metadata(ctx, name, annotations=annotations)
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {}}
    read = ctx.req("get", cronjob.resource, cronjob.name)
    option = f"from={cronjob.resource}/{cronjob.name}"
    return [read, *created(ctx, "Job.v1.batch", body, [option])]


def cronjob(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "cronjob", command=True)
    schedule, restart = args.last("schedule"), args.last("restart") or "OnFailure"
    if not schedule:
        raise syntax("create cronjob needs --schedule")
    if restart not in _RESTART:
        raise syntax("--restart must be OnFailure or Never")
    job_spec = {"template": _pod_template(ctx, name, restart)}
    spec = {"schedule": schedule, "jobTemplate": {"metadata": {"name": name}, "spec": job_spec}}
    meta = metadata(ctx, name)
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": spec}
    return created(ctx, "CronJob.v1.batch", body)


def _port(text: str, what: str) -> int | str:
    if text.isascii() and text.isdigit():
        return go_int(text, what, minimum=1)
    if not text or not text.replace("-", "").isalnum():
        raise syntax(f"{what} {text!r} is not a port number or name")
    return text


def _service_ports(ctx: Ctx, node_port: int) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    for spec in ctx.args.csv("tcp"):
        port_text, _, target_text = spec.partition(":")
        port = _port(port_text, "port")
        if not isinstance(port, int):
            raise syntax(f"--tcp port {port_text!r} must be a number")
        entry: dict[str, Any] = {
            "name": spec.replace(":", "-"),
            "port": port,
            "protocol": "TCP",
            "targetPort": _port(target_text, "target port") if target_text else port,
        }
        if node_port > 0:
            entry["nodePort"] = node_port
        ports.append(entry)
    return ports


def _service(ctx: Ctx, kind: str, spec_extra: dict[str, Any]) -> list[KubeRequest]:
    name = single_name(ctx, f"service {kind.lower()}")
    node_port = go_int(ctx.args.last("node-port") or "0", "node-port", minimum=0)
    ports = _service_ports(ctx, node_port)
    if not ports and kind != "ExternalName" and spec_extra.get("clusterIP") != "None":
        raise syntax("at least one --tcp=PORT[:TARGET] is required")
    labels = {"app": name}
    spec: dict[str, Any] = {"type": kind, "selector": dict(labels), **spec_extra}
    if ports:
        spec["ports"] = ports
    meta = metadata(ctx, name, labels=labels)
    body = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    return created(ctx, "Service.v1.", body)


def service_clusterip(ctx: Ctx) -> list[KubeRequest]:
    cluster_ip = ctx.args.last("clusterip")
    return _service(ctx, "ClusterIP", {"clusterIP": cluster_ip} if cluster_ip else {})


def service_nodeport(ctx: Ctx) -> list[KubeRequest]:
    return _service(ctx, "NodePort", {})


def service_loadbalancer(ctx: Ctx) -> list[KubeRequest]:
    return _service(ctx, "LoadBalancer", {})


def service_externalname(ctx: Ctx) -> list[KubeRequest]:
    external = ctx.args.last("external-name")
    if not external:
        raise syntax("create service externalname needs --external-name")
    return _service(ctx, "ExternalName", {"externalName": external})


def _backend(text: str, flag: str) -> dict[str, Any]:
    service, colon, port = text.partition(":")
    if not service or not colon or not port:
        raise syntax(f"--{flag} backend must be SERVICE:PORT, not {text!r}")
    number = _port(port, "port")
    ref = {"number": number} if isinstance(number, int) else {"name": number}
    return {"service": {"name": service, "port": ref}}


def _ingress_rule(rule: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    main, _, tls = rule.partition(",")
    host_path, eq, backend = main.partition("=")
    host, slash, path = host_path.partition("/")
    if not eq or not slash:
        raise syntax(f"--rule must be HOST/PATH=SERVICE:PORT[,tls[=SECRET]], not {rule!r}")
    path_type = "Prefix" if path.endswith("*") else "Exact"
    entry = {"path": "/" + path.rstrip("*"), "pathType": path_type}
    http = {"paths": [{**entry, "backend": _backend(backend, "rule")}]}
    found: dict[str, Any] = {"host": host, "http": http} if host else {"http": http}
    if not tls:
        return found, None
    if tls != "tls" and not tls.startswith("tls="):
        raise syntax(f"the TLS part of --rule must be tls or tls=SECRET, not {tls!r}")
    tls_entry: dict[str, Any] = {"hosts": [host]} if host else {}
    if tls.startswith("tls=") and tls[4:]:
        tls_entry["secretName"] = tls[4:]
    return found, tls_entry


def ingress(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "ingress")
    parsed = [_ingress_rule(rule) for rule in args.all("rule")]
    spec: dict[str, Any] = {}
    if args.last("class"):
        spec["ingressClassName"] = args.last("class")
    if args.last("default-backend"):
        spec["defaultBackend"] = _backend(args.last("default-backend") or "", "default-backend")
    if not parsed and "defaultBackend" not in spec:
        raise syntax("create ingress needs at least one --rule or --default-backend")
    if parsed:
        spec["rules"] = [rule for rule, _ in parsed]
    tls = [entry for _, entry in parsed if entry is not None]
    if tls:
        spec["tls"] = tls
    annotations = key_values(args.all("annotation"), "annotation")
    meta = metadata(ctx, name, annotations=annotations)
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta}
    return created(ctx, "Ingress.v1.networking.k8s.io", {**body, "spec": spec})
