"""Notifications: what a notice says (``messages``) and the transports that send one
message (``transports``: smtp, webhook, command, print). The outbox's records live in
the store (``store.repository``); one escalate pass is ``services.escalation``.
"""
