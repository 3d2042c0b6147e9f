"""The kubectl command tree and the dispatcher that walks it.

``ROOT`` maps sub-command words (with kubectl's aliases, e.g. ``create deploy``,
``top po``) to a ``Leaf`` (its flag table and handler) or to a ``Group`` of further
sub-commands. ``find_leaf`` walks the words: the first positional words name the
sub-command; before the sub-command is complete only global flags (``-n``, ``-A``,
``--request-timeout``, ``-v`` ...) and ``--flag=value`` forms may appear, since the meaning
of any other flag (does it take the next word?) depends on the sub-command. That is
stricter than kubectl, on purpose.

Sub-commands that escape the canonical-request model or change local state (``exec``,
``cp``, ``attach``, ``port-forward``, ``proxy``, ``run``, ``debug``, ``edit``, ``config``,
``plugin``, ``auth``, ``certificate``, ``kustomize``, ``wait``, ``completion``, ``alpha``,
``expose``, ``autoscale`` ...) are ``parse/forbidden-subcommand``; anything else not in the
tree is ``parse/unknown-subcommand``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl import (
    create,
    create_rbac,
    create_workloads,
    delete,
    manifests,
    mutations,
    nodes,
    reads,
    setcmd,
)
from infraagent.tools.kubectl.flags import (
    GLOBAL_TABLE,
    Arity,
    FlagTable,
    identity_error,
    identity_name,
)
from infraagent.tools.kubectl.targets import Ctx

Handler = Callable[[Ctx], list[KubeRequest]]

FORBIDDEN: Final = frozenset(
    {
        "exec", "cp", "attach", "port-forward", "proxy", "run", "debug", "edit", "config",
        "plugin", "auth", "certificate", "kustomize", "wait", "completion", "alpha", "expose",
        "autoscale", "diff", "cluster-info",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Leaf:
    flags: FlagTable
    handler: Handler
    manifest: bool = False  # whether ``-f -`` (the inline manifest) is meaningful


@dataclass(frozen=True, slots=True)
class Group:
    children: Mapping[str, Leaf | Group]
    leaf: Leaf | None = None  # what the bare group does (``create -f -``)


def _aliased(node: Leaf | Group, *names: str) -> dict[str, Leaf | Group]:
    return dict.fromkeys(names, node)


_CREATE: Final = Group(
    {
        **_aliased(Leaf(create.NAMESPACE_FLAGS, create.namespace), "namespace", "ns"),
        **_aliased(
            Leaf(create.SERVICEACCOUNT_FLAGS, create.serviceaccount), "serviceaccount", "sa"
        ),
        **_aliased(Leaf(create.CONFIGMAP_FLAGS, create.configmap), "configmap", "cm"),
        "secret": Group(
            {
                "generic": Leaf(create.SECRET_GENERIC_FLAGS, create.secret_generic),
                "tls": Leaf(create.SECRET_TLS_FLAGS, create.secret_tls),
                "docker-registry": Leaf(create.SECRET_DOCKER_FLAGS, create.secret_docker_registry),
            }
        ),
        **_aliased(Leaf(create.QUOTA_FLAGS, create.quota), "quota", "resourcequota"),
        **_aliased(Leaf(create.PRIORITYCLASS_FLAGS, create.priorityclass), "priorityclass", "pc"),
        **_aliased(
            Leaf(create.PDB_FLAGS, create.poddisruptionbudget), "poddisruptionbudget", "pdb"
        ),
        "token": Leaf(create.TOKEN_FLAGS, create.token),
        **_aliased(
            Leaf(create_workloads.DEPLOYMENT_FLAGS, create_workloads.deployment),
            "deployment",
            "deploy",
        ),
        "job": Leaf(create_workloads.JOB_FLAGS, create_workloads.job),
        **_aliased(Leaf(create_workloads.CRONJOB_FLAGS, create_workloads.cronjob), "cronjob", "cj"),
        **_aliased(
            Group(
                {
                    "clusterip": Leaf(
                        create_workloads.SERVICE_FLAGS, create_workloads.service_clusterip
                    ),
                    "nodeport": Leaf(
                        create_workloads.NODEPORT_FLAGS, create_workloads.service_nodeport
                    ),
                    "loadbalancer": Leaf(
                        create_workloads.LOADBALANCER_FLAGS, create_workloads.service_loadbalancer
                    ),
                    "externalname": Leaf(
                        create_workloads.EXTERNALNAME_FLAGS, create_workloads.service_externalname
                    ),
                }
            ),
            "service",
            "svc",
        ),
        **_aliased(
            Leaf(create_workloads.INGRESS_FLAGS, create_workloads.ingress), "ingress", "ing"
        ),
        "role": Leaf(create_rbac.ROLE_FLAGS, create_rbac.role),
        "clusterrole": Leaf(create_rbac.CLUSTERROLE_FLAGS, create_rbac.clusterrole),
        "rolebinding": Leaf(create_rbac.ROLEBINDING_FLAGS, create_rbac.rolebinding),
        "clusterrolebinding": Leaf(
            create_rbac.CLUSTERROLEBINDING_FLAGS, create_rbac.clusterrolebinding
        ),
    },
    leaf=Leaf(manifests.CREATE_FILE_FLAGS, manifests.create_from_file, manifest=True),
)

_ROLLOUT: Final = Group(
    {
        "status": Leaf(reads.ROLLOUT_READ_FLAGS, reads.rollout_read),
        "history": Leaf(reads.ROLLOUT_READ_FLAGS, reads.rollout_read),
        "restart": Leaf(mutations.ROLLOUT_WRITE_FLAGS, mutations.rollout_restart),
        "pause": Leaf(mutations.ROLLOUT_WRITE_FLAGS, mutations.rollout_pause),
        "resume": Leaf(mutations.ROLLOUT_WRITE_FLAGS, mutations.rollout_resume),
        "undo": Leaf(mutations.UNDO_FLAGS, mutations.rollout_undo),
    }
)

ROOT: Final = Group(
    {
        "get": Leaf(reads.GET_FLAGS, reads.get),
        "describe": Leaf(reads.DESCRIBE_FLAGS, reads.describe),
        "logs": Leaf(reads.LOGS_FLAGS, reads.logs),
        "top": Group(
            {
                **_aliased(Leaf(reads.TOP_POD_FLAGS, reads.top_pod), "pod", "pods", "po"),
                **_aliased(Leaf(reads.TOP_NODE_FLAGS, reads.top_node), "node", "nodes", "no"),
            }
        ),
        "events": Leaf(reads.EVENTS_FLAGS, reads.events),
        "explain": Leaf(reads.EXPLAIN_FLAGS, reads.explain),
        "api-resources": Leaf(reads.API_RESOURCES_FLAGS, reads.api_resources),
        "api-versions": Leaf(reads.API_VERSIONS_FLAGS, reads.api_resources),
        "version": Leaf(reads.VERSION_FLAGS, reads.api_resources),
        "rollout": _ROLLOUT,
        "scale": Leaf(mutations.SCALE_FLAGS, mutations.scale),
        "annotate": Leaf(mutations.METADATA_FLAGS, mutations.annotate),
        "label": Leaf(mutations.METADATA_FLAGS, mutations.label),
        "patch": Leaf(mutations.PATCH_FLAGS, mutations.patch),
        "set": Group(
            {
                "image": Leaf(setcmd.SET_IMAGE_FLAGS, setcmd.set_image),
                "env": Leaf(setcmd.SET_ENV_FLAGS, setcmd.set_env),
                "resources": Leaf(setcmd.SET_RESOURCES_FLAGS, setcmd.set_resources),
            }
        ),
        "cordon": Leaf(nodes.CORDON_FLAGS, nodes.cordon),
        "uncordon": Leaf(nodes.CORDON_FLAGS, nodes.uncordon),
        "drain": Leaf(nodes.DRAIN_FLAGS, nodes.drain),
        "taint": Leaf(nodes.TAINT_FLAGS, nodes.taint),
        "delete": Leaf(delete.DELETE_FLAGS, delete.delete, manifest=True),
        "apply": Leaf(manifests.APPLY_FLAGS, manifests.apply, manifest=True),
        "replace": Leaf(delete.REPLACE_FLAGS, delete.replace, manifest=True),
        "create": _CREATE,
    }
)


def _global_width(word: str) -> int | None:
    """How many words a global flag before the sub-command takes, or None if unsure."""
    if identity_name(word) is not None:
        raise identity_error(identity_name(word) or word)
    if word[1] == "-":
        name, eq, _ = word[2:].partition("=")
        spec = GLOBAL_TABLE.longs.get(name.replace("_", "-"))
        if eq:
            return 1  # ``--flag=value``: one word whatever the flag (checked by the leaf)
    else:
        spec = GLOBAL_TABLE.shorts.get(word[1])
        if len(word) > 2 and word[2] == "=":
            return 1  # ``-x=value``: one word whatever the flag (checked by the leaf)
        if spec is not None and len(word) > 2:
            return 1 if spec.arity is Arity.VALUE else None
    if spec is None:
        return None
    return 1 if spec.arity is Arity.BOOL else 2


def _unknown(path: Sequence[str], word: str) -> ParseError:
    full = " ".join([*path, word])
    if not path and word in FORBIDDEN:
        return ParseError("parse/forbidden-subcommand", f"kubectl {word} is not allowed for agents")
    return ParseError("parse/unknown-subcommand", f"kubectl {full} is not a supported sub-command")


def find_leaf(words: Sequence[str]) -> tuple[Leaf, list[str]]:
    """The sub-command's leaf and the words left for its flag parser."""
    node: Leaf | Group = ROOT
    path: list[str] = []
    rest: list[str] = []
    i = 0
    while isinstance(node, Group) and i < len(words):
        word = words[i]
        if word == "--":
            break
        if len(word) > 1 and word[0] == "-":
            width = _global_width(word)
            if width is None:
                if node.leaf is not None and not any(w in node.children for w in words[i:]):
                    break
                raise ParseError(
                    "parse/unknown-flag",
                    f"flag {word} must come after the sub-command (only global flags may "
                    "come before it)",
                )
            rest.extend(words[i : i + width])
            i += width
            continue
        child = node.children.get(word)
        if child is None:
            raise _unknown(path, word)
        path.append(word)
        node = child
        i += 1
    rest.extend(words[i:])
    if isinstance(node, Leaf):
        return node, rest
    if node.leaf is None:
        what = " ".join(path) if path else "kubectl"
        raise ParseError("parse/syntax", f"{what} needs a sub-command")
    return node.leaf, rest
