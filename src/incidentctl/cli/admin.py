"""Looking after the tool itself: init, policy check / show, db upgrade / copy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from incidentctl.cli.app import Commands, app
from incidentctl.cli.options import (
    JsonOption,
    MonthOption,
    PeriodSinceOption,
    PeriodUntilOption,
    TzOption,
    chosen_format,
    format_option,
    runtime,
    stale_pass_line,
)
from incidentctl.output import formats
from incidentctl.runtime import Runtime
from incidentctl.text import literal

policy_app = Commands(
    help="Validate, print or try out the policy (sla.toml).", rich_markup_mode=None
)
db_app = Commands(help="Look after the database.", rich_markup_mode=None)
app.add_typer(policy_app, name="policy")
app.add_typer(db_app, name="db")


@app.command("init")
def init(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            metavar="PATH",
            help="Where to write the policy [default: the --config or INCIDENTCTL_CONFIG "
            "file, else ./sla.toml].",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing policy file with the seed.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """First run: write the policy to edit, and create the database.

    The policy is the shipped one with its comments (sla.toml), readable by you only.
    An existing policy file is kept (exit 4) unless --force; an existing database is
    brought to the current schema.

    Example:

        incidentctl init && incidentctl policy check
    """
    from incidentctl.config import (
        CONFIG_VARIABLE,
        FILE_NAME,
        check_seed_target,
        policy_file,
        write_seed,
    )
    from incidentctl.output import documents
    from incidentctl.store.engine import describe

    rt = runtime(ctx)
    target = path or rt.config_option or Path(rt.environ.get(CONFIG_VARIABLE) or FILE_NAME)
    target = target.expanduser().absolute()
    check_seed_target(target, force=force, environ=rt.environ)  # a refusal changes nothing
    before, after = _upgrade(rt)
    replaced = write_seed(target, force=force, environ=rt.environ)
    # The file the commands here read: the new one, unless the lookup finds another
    # first (--path elsewhere, or a ./sla.toml beside one in the user directory).
    found, _how = policy_file(rt.config_option, environ=rt.environ)
    in_effect = found is not None and found.expanduser().absolute() == target
    where = describe(rt.db_url).removeprefix("sqlite:///")
    if as_json:
        documents.write_json(
            {
                "policy": str(target),
                "replaced": replaced,
                "in_effect": in_effect,
                "database": where,
                "from": before,
                "to": after,
            }
        )
        return
    shown = literal(target)  # a path is what a user typed: no control byte printed
    print(
        f"{'Replaced' if replaced else 'Wrote'} {shown}: the seed policy, with its comments, "
        "readable by you only."
    )
    if before is None:
        print(f"Created the database {where} (schema {after}).")
    elif before != after:
        print(f"Upgraded the database {where} from schema {before} to {after}.")
    else:
        print(f"The database {where} was already there (schema {after}); it is unchanged.")
    config = ""
    if not in_effect:
        config = f"--config {shown} "
        sys.stderr.write(
            f"Note: commands run here read {literal(found or 'the built-in policy')} first; "
            f"pass --config {shown} or set {CONFIG_VARIABLE}={shown} to use the new file.\n"
        )
    print("Next: set your services, roles and contacts in it (its comments explain each key),")
    print(f"then check it: incidentctl {config}policy check")


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
    health = _escalation_health(rt)
    if as_json:
        documents.write_json(
            {
                "source": loaded.source,
                "ok": not problems,
                "problems": problems,
                "escalation": documents.pass_health_document(health) if health else None,
            }
        )
    elif not problems:
        print(
            f"{loaded.source}: OK ({len(loaded.policy.levels)} levels, "
            f"{len(loaded.policy.services)} services, {len(loaded.policy.contacts)} contacts)"
        )
    if health is not None and health.stale and not as_json:
        sys.stderr.write(stale_pass_line(health) + "\n")
    if problems:
        if as_json:
            raise typer.Exit(ConfigError.exit_status)
        raise ConfigError("\n".join(problems))


def _upgrade(rt: Runtime) -> tuple[str | None, str | None]:
    """Bring the database to the current schema (creating it): the revisions before, after."""
    from incidentctl.store import migrate
    from incidentctl.store.engine import Database, translate_database_errors

    database = Database(rt.db_url, rt.environ)
    try:
        with translate_database_errors(rt.db_url):
            return migrate.upgrade(database)
    finally:
        database.dispose()


def _escalation_health(rt: Runtime) -> Any:
    """The database's last escalate pass, when the database exists (``policy check``
    never creates one)."""
    from incidentctl.services.escalation import pass_health
    from incidentctl.store.engine import exists

    if not exists(rt.db_url):
        return None
    return pass_health(rt.db, rt.policy, now=rt.now)


PolicyFormats = formats("json", "toml")


@policy_app.command("show")
def policy_show(
    ctx: typer.Context,
    format_: Annotated[
        PolicyFormats,  # type: ignore[valid-type]
        format_option(),
    ] = PolicyFormats.JSON,
    as_json: JsonOption = False,
) -> None:
    """Print the effective policy as JSON or TOML (secrets masked).

    The file it came from is named on stderr. The TOML reads back as the same policy.

    Example:

        incidentctl policy show | jq '.levels."1"'

        incidentctl policy show --format toml > effective.toml
    """
    from incidentctl.config import policy_as_dict
    from incidentctl.output import Format, documents

    rt = runtime(ctx)
    loaded = rt.loaded_policy
    if not as_json:
        sys.stderr.write(f"# effective policy, from {loaded.source}\n")
    if chosen_format(format_, as_json) is Format.TOML:
        documents.write_toml(policy_as_dict(loaded.policy))
    else:
        documents.write_json(policy_as_dict(loaded.policy))


@policy_app.command("simulate")
def policy_simulate(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            metavar="FILE",
            help="The policy to try (the policy in force is still the global --config).",
            show_default=False,
        ),
    ],
    month: MonthOption = None,
    since: PeriodSinceOption = None,
    until: PeriodUntilOption = None,
    tz: TzOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay the incidents reported in a period under another policy: SLA attainment
    per level and clock, under the policy their clocks follow and under FILE, side by
    side, and the incidents whose verdict would change. Nothing is written.

    Example:

        incidentctl policy simulate --config new.toml --month 2026-10
    """
    from incidentctl.config import load_policy
    from incidentctl.errors import InvalidInput
    from incidentctl.output import documents
    from incidentctl.output.simulate import print_simulation
    from incidentctl.services.reporting import period_for, report_zone
    from incidentctl.services.simulate import simulate

    rt = runtime(ctx)
    if month is None and since is None and until is None:
        raise InvalidInput("give the period: --month YYYY-MM, or --since TIME [--until TIME]")
    zone, tz_name = report_zone(tz or rt.policy.timezone)
    period = period_for(
        month=month, since=since, until=until, zone=zone, tz_name=tz_name, now=rt.now
    )
    trial = load_policy(config, environ=rt.environ)
    document = simulate(rt, period, trial.policy, trial.source)
    if as_json:
        documents.write_json(document)
    else:
        print_simulation(document, period, rt.now)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Apply pending schema migrations (they are also applied automatically).

    Example:

        incidentctl --db postgresql+psycopg://db.internal/incidents db upgrade
    """
    from incidentctl.output import documents
    from incidentctl.store.engine import describe

    rt = runtime(ctx)
    before, after = _upgrade(rt)
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

        incidentctl db copy --to postgresql+psycopg://db.internal/incidents
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
