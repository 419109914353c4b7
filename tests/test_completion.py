"""Shell completion (issue 11 item 8): the installed command answers Typer's completion
protocol in a subprocess, as the shells' scripts call it, with values from the policy and
the database; static values never import SQLAlchemy; the scripts themselves work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_e2e import incidentctl_executable

# Runs the command line as the console script does, then says which heavy modules it
# imported (stderr), so a completion can be checked for what it loaded.
PROBE = (
    "import sys\n"
    "from incidentctl.cli import main\n"
    "sys.argv = ['incidentctl']\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "sys.stdout.flush()\n"
    "loaded = sorted({m.split('.')[0] for m in sys.modules} & "
    "{'sqlalchemy', 'sqlmodel', 'alembic', 'rich'})\n"
    "print('LOADED', loaded, file=sys.stderr)\n"
)


def protocol(shell: str, line: str) -> dict[str, str]:
    """The environment a shell's completion script sets for ``line`` (Typer's protocol)."""
    if shell == "bash":
        words = line.split()
        index = len(words) if line.endswith(" ") else len(words) - 1
        return {
            "_INCIDENTCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(index),
        }
    env = {"_INCIDENTCTL_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return env


def complete(shell: str, line: str, **env: str) -> tuple[str, list[str]]:
    """Complete ``line`` in a subprocess: what the shell is told, and the modules loaded."""
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **protocol(shell, line), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    *messages, loaded = run.stderr.strip().splitlines()
    assert not messages, messages  # nothing else on stderr: no traceback at the prompt
    assert loaded.startswith("LOADED ")
    return run.stdout, eval(loaded.removeprefix("LOADED "))


def bash_values(line: str, **env: str) -> list[str]:
    out, loaded = complete("bash", line, **env)
    assert "sqlalchemy" not in loaded, line
    return [value for value in out.splitlines() if value]


def test_static_values_come_from_the_policy_and_the_domain_without_sqlalchemy():
    cases = {
        "incidentctl list --status ": [
            "open",
            "acknowledged",
            "recovered",
            "resolved",
            "closed",
            "cancelled",
        ],
        "incidentctl list --status resolved,a": ["resolved,acknowledged"],
        "incidentctl list --format ": ["table", "json", "ndjson", "csv"],
        "incidentctl list --level ": ["1", "2", "3"],
        "incidentctl open 'Checkout fails' --level ": ["1", "2", "3"],
        "incidentctl open x --service ": ["accounts", "payments", "web-portal"],
        "incidentctl open x --channel ": ["hotline", "email", "monitoring", "other"],
        "incidentctl transfer 4 --team ": ["om", "dev"],
        "incidentctl note 4 x --kind ": [
            "progress",
            "customer",
            "customer-update",
            "lesson",
            "impact",
            "root-cause",
            "action",
        ],  # fmt: skip
        "incidentctl problem 4 --reason ": ["recurring", "unknown-cause", "known-defect"],
        "incidentctl relevel 4 --level 2": ["2"],
        "incidentctl export --status c": ["closed", "cancelled"],
        "incidentctl policy show --format ": ["json", "toml"],
        "incidentctl --as ": [
            "chen.jie",
            "dev-team",
            "duty-officer",
            "li.wei",
            "liu.yang",
            "om-team",
            "wang.fang",
            "wang.lei",
            "zhang.min",
        ],
        "incidentctl assign 4 --to li": ["li.wei", "liu.yang"],
        "incidentctl transfer 4 --to z": ["zhang.min"],
        "incidentctl list --assignee w": ["wang.fang", "wang.lei"],
    }
    for line, expected in cases.items():
        assert bash_values(line) == expected, line


def test_commands_complete_without_sqlalchemy_or_rich_in_every_shell():
    out, loaded = complete("bash", "incidentctl po")
    assert out.splitlines() == ["policy"]
    assert loaded == []
    out, loaded = complete("zsh", "incidentctl db ")
    assert out == (
        "_arguments '*: :(("
        '"upgrade":"Apply pending schema migrations (they are..."\n'
        '"copy":"Copy this database (incidents, events,..."))\'\n'
    )
    assert loaded == []  # Typer would render the help with Rich: here it is shown as it is
    out, loaded = complete("fish", "incidentctl po")
    assert out == "policy\tValidate, print or try out the policy...\n"
    assert loaded == []


def test_zsh_and_fish_show_each_value_with_its_meaning():
    out, _ = complete("zsh", "incidentctl open x --level ")
    assert out == '_arguments \'*: :(("1":"Major"\n"2":"Minor"\n"3":"No impact"))\'\n'
    out, _ = complete("fish", "incidentctl open x --service pay")
    assert out == "payments\towner chen.jie\n"
    out, _ = complete("fish", "incidentctl --as ")
    assert out.splitlines() == [
        "chen.jie\towner of payments",
        "dev-team\tdevelopers' team",
        "duty-officer\tdefault owner",
        "li.wei\tR&D leader",
        "liu.yang\towner of accounts",
        "om-team\tO&M team",
        "wang.fang\towner of web-portal",
        "wang.lei\tcontact",
        "zhang.min\tincident manager",
    ]


def test_the_policy_named_on_the_command_line_is_the_one_completed(tmp_path):
    seed = (Path(__file__).parent.parent / "src" / "incidentctl" / "sla.toml").read_text()
    team = tmp_path / "team.toml"
    team.write_text(
        seed.replace("[services.accounts]", "[services.billing]")
        + '\n[levels.4]\nname = "Planned"\nresponse = "1d"\nrecovery = "2d"\nresolution = "90d"\n'
    )
    line = f"incidentctl --config {team} open x --service "
    assert bash_values(line) == ["billing", "payments", "web-portal"]
    assert bash_values(f"incidentctl --config {team} relevel 4 --level ") == ["1", "2", "3", "4"]
    # and INCIDENTCTL_CONFIG, as every command reads it
    assert bash_values("incidentctl list --service b", INCIDENTCTL_CONFIG=str(team)) == ["billing"]


def test_a_broken_policy_offers_nothing_and_no_traceback(tmp_path):
    (tmp_path / "sla.toml").write_text("[levels.1]\nname = 3\n")  # cwd: ./sla.toml is used
    assert bash_values("incidentctl open x --level ") == []
    assert bash_values("incidentctl --as ") == []
    assert bash_values("incidentctl list --status cl") == ["closed"]  # from the domain


def _seed(cli) -> None:
    """Twelve incidents: 1–11 Level 3, 12 Level 1 (the nearest deadline); 3 closed, 5
    cancelled."""
    cli.now = "2026-11-25T03:00:00Z"
    for n in range(1, 12):
        cli("open", f"Incident {n}", "--level", "3", "--service", "accounts")
    cli("open", "Checkout fails [/b] $HOME 'q'", "--level", "1", "--service", "payments")
    cli("resolve", "3", "--solution", "restarted")
    cli("close", "3", "--confirmed-by", "Wang Fang")
    cli("cancel", "5", "--duplicate-of", "4")


@pytest.mark.storage_contract
def test_incident_ids_come_from_the_database_not_closed_first(cli):
    _seed(cli)
    out, loaded = complete("bash", "incidentctl show ")
    assert "sqlalchemy" in loaded  # ids are the one completion that reads the database
    # the board's order (nearest deadline first), then the others, most recent first
    assert out.splitlines() == ["12", "1", "2", "4", "6", "7", "8", "9", "10", "11", "5", "3"]
    out, _ = complete("bash", "incidentctl ack 1")
    assert out.splitlines() == ["12", "1", "10", "11"]
    out, _ = complete("bash", "incidentctl cancel 7 --duplicate-of 3")
    assert out.splitlines() == ["3"]
    assert complete("bash", "incidentctl show 13")[0].split() == []
    assert complete("bash", "incidentctl show x")[0].split() == []
    assert complete("bash", "incidentctl show 01")[0].split() == []
    assert complete("bash", "incidentctl show 99999999999999999999")[0].split() == []
    assert complete("bash", "incidentctl show 2147483647")[0].split() == []


def test_an_id_is_shown_with_its_level_status_and_title_as_typed(cli):
    _seed(cli)
    out, loaded = complete("zsh", "incidentctl note 1")
    assert out == (
        "_arguments '*: :((\"12\":\"L1 open\\\\: Checkout fails [/b] \\$HOME ''q''\"\n"
        '"1":"L3 open\\\\: Incident 1"\n'
        '"10":"L3 open\\\\: Incident 10"\n'
        '"11":"L3 open\\\\: Incident 11"))\'\n'
    )
    assert "rich" not in loaded
    out, _ = complete("fish", "incidentctl show 3")
    assert out == "3\tL3 closed: Incident 3\n"


def test_completing_an_id_never_creates_or_migrates_a_database(tmp_path):
    missing = tmp_path / "none.db"
    assert complete("bash", "incidentctl show ", INCIDENTCTL_DB=str(missing))[0].split() == []
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert complete("bash", "incidentctl show ", INCIDENTCTL_DB=str(empty))[0].split() == []
    assert empty.stat().st_size == 0  # no tables were made


def _incidentctl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*incidentctl_executable(), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F _incidentctl_completion incidentctl"),
        ("zsh", "#compdef incidentctl"),
        ("fish", "complete --command incidentctl --no-files"),
    ],
)
def test_show_completion_prints_the_named_shells_script(shell, marker):
    run = _incidentctl("--show-completion", shell)
    assert run.returncode == 0, run.stderr
    assert marker in run.stdout
    assert f"_INCIDENTCTL_COMPLETE=complete_{shell}" in run.stdout


def test_the_bash_script_completes_in_bash(cli, tmp_path):
    """The script --show-completion prints, sourced in a real bash, fills COMPREPLY."""
    _seed(cli)
    script = tmp_path / "incidentctl.bash"
    script.write_text(_incidentctl("--show-completion", "bash").stdout)
    bin_dir = Path(incidentctl_executable()[0]).parent

    def tab(*words: str) -> list[str]:
        program = (
            f"source {script}\n"
            f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
            f"COMP_CWORD={len(words) - 1}\n"
            "_incidentctl_completion incidentctl\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        run = subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", program],
            env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    assert tab("incidentctl", "list", "--status", "re") == ["recovered", "resolved"]
    assert tab("incidentctl", "open", "x", "--service", "p") == ["payments"]
    assert tab("incidentctl", "ack", "1") == ["12", "1", "10", "11"]


def test_install_completion_writes_the_named_shells_script(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = _incidentctl("--install-completion", "bash", HOME=str(home))
    assert run.returncode == 0, run.stderr
    script = home / ".bash_completions" / "incidentctl.sh"
    assert "_INCIDENTCTL_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (home / ".bashrc").read_text()
    run = _incidentctl("--install-completion", "fish", HOME=str(home))
    assert run.returncode == 0, run.stderr
    fish = home / ".config" / "fish" / "completions" / "incidentctl.fish"
    assert "_INCIDENTCTL_COMPLETE=complete_fish" in fish.read_text()


def test_a_shell_without_a_script_is_refused_with_the_ones_there_are():
    run = _incidentctl("--show-completion", "tcsh")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "'tcsh' is not a shell incidentctl completes: bash, zsh, fish" in run.stderr
    run = _incidentctl("--json", "--show-completion", "tcsh")
    assert run.returncode == 2
    assert '"error": "usage"' in run.stderr


def test_root_help_says_the_shell_can_be_named(cli):
    out = cli("--help").stdout
    assert "--install-completion" in out
    assert "--show-completion" in out
    assert "named after it (bash, zsh, fish)" in " ".join(out.split())


# In-process, through the same entry point (CliRunner): the same answers, and the cases a
# subprocess cannot stage (what shell detection finds).


def test_in_process_completion_gives_the_same_answers(cli):
    _seed(cli)
    assert cli(env=protocol("bash", "incidentctl list --status resolved,")).stdout.split() == [
        "resolved,open",
        "resolved,acknowledged",
        "resolved,recovered",
        "resolved,closed",
        "resolved,cancelled",
    ]
    fish = cli(env=protocol("fish", "incidentctl relevel 12 --level 1")).stdout
    assert fish == "1\tMajor\n"
    zsh = cli(env=protocol("zsh", "incidentctl problem 1")).stdout
    assert zsh.startswith('_arguments \'*: :(("12":"L1 open\\\\: Checkout fails [/b] ')
    assert cli(env=protocol("bash", "incidentctl edit 4 --service a")).stdout.split() == [
        "accounts"
    ]


def test_show_completion_without_a_shell_uses_the_detected_one(cli, monkeypatch):
    import shellingham

    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("zsh", "/bin/zsh"))
    assert cli("--show-completion").stdout.startswith("#compdef incidentctl")
    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("sh", "/bin/sh"))
    refused = cli("--show-completion", expect=2)
    assert "cannot complete for this shell (sh): name the shell, e.g. incidentctl " in (
        refused.stderr
    )

    def undetectable():
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", undetectable)
    refused = cli("--install-completion", expect=2)
    assert "cannot complete for which shell this is: name the shell, e.g. incidentctl " in (
        refused.stderr
    )
    assert "--install-completion bash (bash, zsh, fish)" in refused.stderr


def test_a_shell_named_after_the_global_options_is_used(cli):
    out = cli("--db", "x.db", "--as", "me", "--show-completion", "fish").stdout
    assert out.startswith("complete --command incidentctl")
    # after the command, --show-completion is not a global option any more
    refused = cli("list", "--show-completion", "fish", expect=2)
    assert "No such option" in refused.stderr
