"""Benchmark: what one command costs, process start-up included, against the imports
it cannot avoid.

    .venv/bin/python bench/bench_startup.py                # 20 rounds
    .venv/bin/python bench/bench_startup.py --rounds 30 --profile

Each measurement is the wall time of a fresh process, start to exit, run through
``subprocess`` exactly as a user runs it: the installed console script
(``.venv/bin/incidentctl``, the ``[project.scripts]`` entry point) for incidentctl,
this interpreter for the baselines. The commands alternate within every round (the
order rotates from round to round) and the medians of one run are compared, as
ratios: the machine is shared and noisy.

    floor     python -c "import sqlmodel, typer"
    ack       incidentctl ack N        (a write: a new, not yet acknowledged incident each round)
    list      incidentctl list --json
    default   incidentctl list --json with the default paths (no INCIDENTCTL_DB, _DATA_DIR,
              _CONFIG_DIR: platformdirs finds them; XDG_* point into the temporary dir)
    show      incidentctl show 1 --json
    typer     python -c "import typer"
    help      incidentctl --help

The database is a small SQLite file (the bench's first 30 plain records imported, plus
one opened incident per round for ``ack``), prepared once before the timing, in a
temporary directory given by INCIDENTCTL_DB / INCIDENTCTL_DATA_DIR /
INCIDENTCTL_CONFIG_DIR, with TZ=UTC and a fixed INCIDENTCTL_NOW.

``--what-if`` adds, to the same alternation, what two changes would save without
making them: ``--help`` with TYPER_USE_RICH=0 (Typer's plain help, as
``rich_markup_mode=None`` would give), and ``list --json`` and the floor each ending in
``os._exit`` once output is flushed (no interpreter teardown).

``--profile`` then runs ``python -X importtime -m incidentctl`` of ``list --json``,
``ack`` and ``--help`` and lists, by package and by our own module, the self import
time of the modules the baseline does not load (median of five runs each).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import NOW, records  # noqa: E402

PYTHON = sys.executable
INCIDENTCTL = str(Path(sys.executable).parent / "incidentctl")


def prepare(work: Path, rounds: int) -> dict[str, str]:
    env = {
        **os.environ,
        "INCIDENTCTL_DB": str(work / "incidents.db"),
        "INCIDENTCTL_DATA_DIR": str(work / "data"),
        "INCIDENTCTL_CONFIG_DIR": str(work / "config"),
        "INCIDENTCTL_NOW": NOW,
        "INCIDENTCTL_USER": "bench",
        "TZ": "UTC",
    }
    env.pop("INCIDENTCTL_CONFIG", None)
    # As installed: modules load from cached bytecode (this sandbox sets
    # PYTHONDONTWRITEBYTECODE=1, which would compile src/ afresh in every process).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    source = work / "small.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in records(30)))
    subprocess.run([INCIDENTCTL, "import", str(source)], env=env, check=True, capture_output=True)
    for k in range(rounds + 2):  # one to acknowledge per round, and spares for --profile
        subprocess.run(
            [INCIDENTCTL, "open", f"startup bench {k}", "--level", "2", "--service", "web-portal"],
            env=env,
            check=True,
            capture_output=True,
        )
    return env


def default_paths(work: Path, env: dict[str, str]) -> dict[str, str]:
    """The same database where a user's would be found with no INCIDENTCTL_* paths."""
    import sqlite3

    paths = {
        k: v
        for k, v in env.items()
        if k not in ("INCIDENTCTL_DB", "INCIDENTCTL_DATA_DIR", "INCIDENTCTL_CONFIG_DIR")
    }
    paths.update(
        HOME=str(work / "home"),
        XDG_DATA_HOME=str(work / "xdg-data"),
        XDG_CONFIG_HOME=str(work / "xdg-config"),
    )
    (work / "xdg-data" / "incidentctl").mkdir(parents=True)
    source = sqlite3.connect(work / "incidents.db")
    target = sqlite3.connect(work / "xdg-data" / "incidentctl" / "incidents.db")
    source.backup(target)
    source.close()
    target.close()
    return paths


def run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


def importtime(argv: list[str], env: dict[str, str]) -> dict[str, int]:
    """Self import time (µs) of each module, from ``-X importtime``."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", *argv], env=env, capture_output=True, text=True
    )
    found = re.findall(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", done.stderr)
    return {name: int(us) for us, name in found}


def profile(label: str, argv: list[str], floor: list[str], env: dict[str, str]) -> None:
    """The modules ``argv`` imports beyond ``floor``'s, by package: median of 5 runs."""
    floor_runs = [importtime(floor, env) for _ in range(5)]
    runs = [importtime(argv, env) for _ in range(5)]
    in_floor = set().union(*floor_runs)
    floor_total = statistics.median(sum(r.values()) for r in floor_runs)
    total = statistics.median(sum(r.values()) for r in runs)
    by_package: list[dict[str, int]] = []
    for r in runs:
        packages: dict[str, int] = defaultdict(int)
        for name, us in r.items():
            if name not in in_floor:
                packages[name.split(".")[0]] += us
                if name.startswith("incidentctl."):
                    packages[name] += us
        by_package.append(packages)
    names = set().union(*by_package)
    med = {n: statistics.median(p.get(n, 0) for p in by_package) for n in names}
    beyond = sum(v for n, v in med.items() if "." not in n)
    print(
        f"\n-X importtime {label}: imports {total / 1000:.0f} ms, the floor's "
        f"{floor_total / 1000:.0f} ms; modules the floor does not load: {beyond / 1000:.0f} ms"
    )
    for us, name in sorted(((v, n) for n, v in med.items()), reverse=True)[:24]:
        if us >= 300:
            print(f"  {us / 1000:6.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also -X importtime")
    parser.add_argument("--what-if", action="store_true", help="also the variants above")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        env = prepare(work, args.rounds)
        first_open = 31  # the 30 imported records take ids 1-30
        envs = {"default": default_paths(work, env)}
        commands = {
            "floor": lambda k: [PYTHON, "-c", "import sqlmodel, typer"],
            "ack": lambda k: [INCIDENTCTL, "ack", str(first_open + k)],
            "list": lambda k: [INCIDENTCTL, "list", "--json"],
            "default": lambda k: [INCIDENTCTL, "list", "--json"],
            "show": lambda k: [INCIDENTCTL, "show", "1", "--json"],
            "typer": lambda k: [PYTHON, "-c", "import typer"],
            "help": lambda k: [INCIDENTCTL, "--help"],
        }
        if args.what_if:
            envs["help plain"] = {**env, "TYPER_USE_RICH": "0"}
            no_teardown = (
                "import atexit, os, sys\n"
                "atexit.register(lambda: (sys.stdout.flush(), sys.stderr.flush(), os._exit(0)))\n"
                "sys.argv = ['incidentctl', 'list', '--json']\n"
                "from incidentctl.cli import main\n"
                "main()\n"
            )
            commands.update(
                {
                    "help plain": lambda k: [INCIDENTCTL, "--help"],
                    "list _exit": lambda k: [PYTHON, "-c", no_teardown],
                    "floor _exit": lambda k: [
                        PYTHON,
                        "-c",
                        "import sqlmodel, typer, os; os._exit(0)",
                    ],
                }
            )
        names = list(commands)
        floor = {"floor": ["-c", "import sqlmodel, typer"], "typer": ["-c", "import typer"]}
        # one untimed pass: .pyc files written, page cache warm
        for name in names:
            if name != "ack":
                run(commands[name](0), envs.get(name, env))
        times: dict[str, list[float]] = {name: [] for name in names}
        for k in range(args.rounds):
            order = names[k % len(names) :] + names[: k % len(names)]
            for name in order:
                times[name].append(run(commands[name](k), envs.get(name, env)))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        print(
            f"{args.rounds} alternating rounds, {os.cpu_count()} cores, "
            f"Python {sys.version.split()[0]}, load average now {os.getloadavg()[0]:.1f}"
        )
        for name in names:
            ts = sorted(times[name])
            print(
                f"  {name:6} median {med[name] * 1000:7.1f} ms"
                f"  (quartiles {ts[len(ts) // 4] * 1000:6.1f}–{ts[3 * len(ts) // 4] * 1000:6.1f})"
            )
        for name in ("ack", "list", "show", "default"):
            print(f"  {name} / floor: {med[name] / med['floor']:.2f}×   (target ≤ 1.15×)")
        print(f"  help / typer: {med['help'] / med['typer']:.2f}×   (target ≤ 2×)")
        if args.what_if:
            print(f"  help plain / typer: {med['help plain'] / med['typer']:.2f}×")
            print(f"  list _exit / floor: {med['list _exit'] / med['floor']:.2f}×")
            print(f"  list _exit / floor _exit: {med['list _exit'] / med['floor _exit']:.2f}×")
        if args.profile:
            incidentctl = ["-m", "incidentctl"]
            profile("list --json", [*incidentctl, "list", "--json"], floor["floor"], env)
            ack = [*incidentctl, "ack", str(first_open + args.rounds)]
            profile("ack", ack, floor["floor"], env)
            profile("--help", [*incidentctl, "--help"], floor["typer"], env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
