"""Persistence: SQLModel tables, the repository, transactions and migrations."""
