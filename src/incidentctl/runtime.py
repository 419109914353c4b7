"""What a command runs against: environment, "now", the actor, the policy and the database.

Built once per invocation from the global options; each part is created only when a
command asks for it, so ``--help`` never touches the database. Tests build their own.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incidentctl.config import Policy
    from incidentctl.store.engine import Database


@dataclass
class Runtime:
    db_option: str | None = None
    config_option: Path | None = None
    actor_option: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin_read: bool = False  # a text option given as "-" has read standard input
    warn: Callable[[str], None] = lambda line: None  # the command line: on stderr

    @cached_property
    def now(self) -> datetime:
        from incidentctl.times import utc_now

        return utc_now(self.environ)

    @cached_property
    def actor(self) -> str:
        """Who acts. On an SQLite file (one person's): ``--as``, else ``INCIDENTCTL_USER``,
        else the login name. On PostgreSQL (team mode): the person the policy maps the
        database role to; ``--as`` or ``INCIDENTCTL_USER`` naming someone else only for a
        role that may act for others (``[team] act_for_others``, or a superuser)."""
        if self.actor_option is not None and not self.actor_option.strip():
            from incidentctl.errors import InvalidInput

            raise InvalidInput("--as names no one: give the name of who is acting")
        claimed = self.actor_option or self.environ.get("INCIDENTCTL_USER") or None
        from incidentctl.store.engine import is_sqlite

        session = None if is_sqlite(self.db_url) else self.db.session_role()
        if session is None:
            return claimed or getpass.getuser()
        role, superuser = session
        team = self.policy.team
        person = team.person_of(role)
        if claimed is None or claimed == person:
            return person
        if superuser or role in team.act_for_others:
            return claimed
        from incidentctl.errors import Conflict
        from incidentctl.text import literal

        how = "--as" if self.actor_option else "INCIDENTCTL_USER"
        raise Conflict(
            f"you connect as database role '{literal(role)}', who is {literal(person)}; "
            f"only a role that may act for others ([team] act_for_others) may act as "
            f"'{literal(claimed)}' ({how}); nothing was done"
        )

    @cached_property
    def loaded_policy(self):  # type: ignore[no-untyped-def]
        from incidentctl.config import load_policy

        loaded = load_policy(self.config_option, environ=self.environ)
        for line in loaded.warnings:
            self.warn(line)
        return loaded

    @property
    def policy(self) -> Policy:
        policy: Policy = self.loaded_policy.policy
        return policy

    @cached_property
    def db_url(self) -> str:
        from incidentctl.store.engine import database_url

        return database_url(self.db_option, self.environ)

    @cached_property
    def db(self) -> Database:
        from incidentctl.store.engine import Database

        _ = self.loaded_policy  # a command that touches the store runs under a valid policy
        database = Database(self.db_url, self.environ)
        database.ensure_schema()
        return database

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()

    def at(self, now: datetime, *, actor: str | None = None) -> Runtime:
        """The same database and policy seen at another moment (demo, simulation)."""
        other = Runtime(
            self.db_option, self.config_option, self.actor_option, self.environ, warn=self.warn
        )
        for shared in ("db", "db_url", "loaded_policy", "actor"):
            if shared in self.__dict__:
                other.__dict__[shared] = self.__dict__[shared]
        other.__dict__["now"] = now
        if actor is not None:  # chosen by the code (intake's sender, the demo's people)
            other.__dict__["actor"] = actor
        return other
