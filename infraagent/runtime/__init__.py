"""The agent runtime: prompt assembly, the guarded tool loop, budgets and the run record.

The loop talks to a model through ``ports.ModelProvider``, runs tools through
``ports.ToolExecutor`` and reads time from ``ports.Clock``; every tool call goes through
the guardrail engine first. Nothing here imports an SDK or touches the network itself.
"""
