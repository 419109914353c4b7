"""Notification commands: escalate and watch."""
