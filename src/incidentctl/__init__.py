"""incidentctl: an incident tracker for the terminal."""

__version__ = "0.1.0"
