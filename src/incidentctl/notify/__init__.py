"""Notifications: the delivery outbox, the messages and the transports that send them.

``outbox`` records and claims deliveries in the database, ``messages`` writes what a
notice says and to whom, ``transports`` sends one message (smtp, webhook, command,
print) and ``escalation`` runs one pass of all that for ``escalate`` and ``watch``.
"""
