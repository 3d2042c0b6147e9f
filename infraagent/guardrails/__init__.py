"""The guardrail engine: pure, deterministic judgement of canonical requests.

``engine.evaluate`` decides ``allow`` / ``propose`` / ``deny`` for the canonical requests of
one tool call under a compiled ``policy.Policy``; ``kube_rules``, ``http_rules`` and
``bodies`` compute tiers and refusals; ``restmapper`` resolves resource names. Nothing in
this package does I/O or reads a clock: parsing tool calls lives in ``infraagent.tools``
and executing them in the runtime.
"""
