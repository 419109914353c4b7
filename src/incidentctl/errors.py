"""Exceptions and their exit codes, in one place.

The core raises these; only ``cli.main`` turns them into an exit status and a message.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    CONFIG = 5
    DELIVERY = 6
    DATABASE = 7
    INTERRUPTED = 130


class IncidentctlError(Exception):
    """Base of every error the user is meant to read; ``code`` is the JSON ``error``."""

    exit_status: ExitStatus = ExitStatus.INTERNAL
    code: str = "internal"
    # (Typer's own usage errors, an unknown option or a missing argument, are reported
    # by the CLI's error boundary as exit 2 with the JSON error "usage".)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(IncidentctlError):
    """A value the user gave cannot be accepted (a bad time, an unknown level)."""

    exit_status = ExitStatus.USAGE
    code = "invalid_input"


class NotFound(IncidentctlError):
    """No such incident."""

    exit_status = ExitStatus.NOT_FOUND
    code = "not_found"


class Conflict(IncidentctlError):
    """Not allowed now: invalid transition, missing approval, wrong role."""

    exit_status = ExitStatus.CONFLICT
    code = "conflict"


class ConfigError(IncidentctlError):
    """The policy file is missing, unreadable or invalid."""

    exit_status = ExitStatus.CONFIG
    code = "config"


class DeliveryFailed(IncidentctlError):
    """Some deliveries failed or are waiting for a retry."""

    exit_status = ExitStatus.DELIVERY
    code = "delivery"


class DatabaseUnavailable(IncidentctlError):
    """The database is locked past its timeout, or cannot be reached."""

    exit_status = ExitStatus.DATABASE
    code = "database"
