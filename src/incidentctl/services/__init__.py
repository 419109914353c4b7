"""The services: each command's work as one all-or-nothing transaction (or, for an
escalate pass, a few short ones), calling the pure policy, the store and the transports.

``handling`` (the lifecycle commands), ``escalation`` (one escalate pass),
``reporting`` (the monthly analysis), ``transfer`` (export and import) and ``demo``.
"""
