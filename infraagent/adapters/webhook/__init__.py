"""The webhook receiver: signed GitHub push events for FleetSources, signed agent triggers.

``WebhookServer`` serves ``POST /hooks/fleet/<namespace>/<name>`` (a GitHub ``push`` asks
for an immediate reconcile of that FleetSource) and ``POST /hooks/agents/<namespace>/<name>``
(a webhook-triggered run of an InfraAgent). Both are verified with HMAC-SHA256
(``X-Hub-Signature-256``) against a secret looked up through an injected ``secret_for``.
``CoalescingTrigger`` / ``KeyedCoalescingTrigger`` sit between the receiver and the
reconciler so a burst of pushes costs one reconcile.

Deliberately not here: reading Secrets from the cluster, the reconciler and the scheduler;
the composition root wires those in as callbacks. Uses only the standard library's HTTP.
"""

from infraagent.adapters.webhook.coalesce import CoalescingTrigger, KeyedCoalescingTrigger
from infraagent.adapters.webhook.routes import (
    AgentTriggerCallback,
    AgentTriggerOutcome,
    FleetPushCallback,
    HookKind,
    HookRoute,
    SecretLookup,
    TriggerResult,
    match_route,
)
from infraagent.adapters.webhook.server import WebhookServer
from infraagent.adapters.webhook.signature import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "AgentTriggerCallback",
    "AgentTriggerOutcome",
    "CoalescingTrigger",
    "FleetPushCallback",
    "HookKind",
    "HookRoute",
    "KeyedCoalescingTrigger",
    "SecretLookup",
    "TriggerResult",
    "WebhookServer",
    "match_route",
    "sign",
    "verify",
]
