"""Looking after the tool itself: policy check / show, db upgrade."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from incidentctl.cli.app import Commands, app
from incidentctl.cli.options import JsonOption, runtime

policy_app = Commands(
    help="Validate or print the effective policy (sla.toml).", rich_markup_mode=None
)
db_app = Commands(help="Look after the database.", rich_markup_mode=None)
app.add_typer(policy_app, name="policy")
app.add_typer(db_app, name="db")


@policy_app.command("check")
def policy_check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Validate the policy, including that every recipient has an address on each channel
    it is used on. Exit 5 when something is wrong.

    Example:

        incidentctl --config ./sla.toml policy check
    """
    from incidentctl.config import recipient_problems
    from incidentctl.errors import ConfigError
    from incidentctl.output import documents

    rt = runtime(ctx)
    loaded = rt.loaded_policy
    problems = [f"{loaded.source}: {p}" for p in recipient_problems(loaded.policy)]
    if as_json:
        documents.write_json({"source": loaded.source, "ok": not problems, "problems": problems})
    elif not problems:
        print(
            f"{loaded.source}: OK ({len(loaded.policy.levels)} levels, "
            f"{len(loaded.policy.services)} services, {len(loaded.policy.contacts)} contacts)"
        )
    if problems:
        if as_json:
            raise typer.Exit(ConfigError.exit_status)
        raise ConfigError("\n".join(problems))


@policy_app.command("show")
def policy_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the effective policy as JSON (secrets masked).

    Example:

        incidentctl policy show | jq '.levels."1"'
    """
    from incidentctl.config import policy_as_dict
    from incidentctl.output import documents

    rt = runtime(ctx)
    loaded = rt.loaded_policy
    if not as_json:
        sys.stderr.write(f"# effective policy, from {loaded.source}\n")
    documents.write_json(policy_as_dict(loaded.policy))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Apply pending schema migrations (they are also applied automatically).

    Example:

        incidentctl --db postgresql+psycopg://incidents@db.internal/incidents db upgrade
    """
    from incidentctl.output import documents
    from incidentctl.store import migrate
    from incidentctl.store.engine import Database, describe, translate_database_errors

    rt = runtime(ctx)
    database = Database(rt.db_url, rt.environ)
    try:
        with translate_database_errors(rt.db_url):
            before, after = migrate.upgrade(database)
    finally:
        database.dispose()
    if as_json:
        documents.write_json({"database": describe(rt.db_url), "from": before, "to": after})
    elif before == after:
        print(f"{describe(rt.db_url)}: already at revision {after}")
    else:
        print(f"{describe(rt.db_url)}: upgraded from {before or 'an empty database'} to {after}")


@db_app.command("copy")
def db_copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option("--to", metavar="URL", help="The empty target database.", show_default=False),
    ],
    as_json: JsonOption = False,
) -> None:
    """Copy this database (incidents, events, deliveries) into another, e.g. from the
    SQLite file into PostgreSQL when a team grows. The target must be empty.

    Example:

        incidentctl db copy --to postgresql+psycopg://incidents@db.internal/incidents
    """
    from incidentctl.output import documents
    from incidentctl.store.copy import copy_database
    from incidentctl.store.engine import (
        Database,
        database_url,
        describe,
        translate_database_errors,
    )

    rt = runtime(ctx)
    target_url = database_url(to, rt.environ)
    if target_url == rt.db_url:
        from incidentctl.errors import InvalidInput

        raise InvalidInput("--to names the database being copied")
    target = Database(target_url, rt.environ)
    try:
        with translate_database_errors(target_url):
            report = copy_database(rt.db, target)
    finally:
        target.dispose()
    if as_json:
        documents.write_json(
            {"from": describe(rt.db_url), "to": describe(target_url), "rows": report.rows}
        )
    else:
        counts = ", ".join(f"{n} {name}" for name, n in report.rows.items())
        print(f"Copied {counts} from {describe(rt.db_url)} to {describe(target_url)}.")
