"""report through the real CLI, on SQLite and PostgreSQL, checked against figures the
test works out itself from the incidents it generated."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import shutil
import statistics
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

NOW = "2026-12-20T00:00:00Z"
NOW_DT = datetime(2026, 12, 20, tzinfo=UTC)
# The seed's table (the built-in policy): response, recovery, resolution.
TARGETS = {
    1: (timedelta(minutes=10), timedelta(hours=2), timedelta(days=7)),
    2: (timedelta(minutes=30), timedelta(hours=6), timedelta(days=20)),
    3: (timedelta(minutes=60), timedelta(hours=24), timedelta(days=60)),
}
CLOCKS = ("response", "recovery", "resolution")
SERVICES = ("payments", "search", "login", "orders", "mail", "billing")
# Titles that recur (numbers vary) and titles that never do (letters vary).
TEMPLATES = ("Checkout fails with {n}", "Search is slow on node {n}", "Login timeouts: {n}s")


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unique_word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12))


def generate(count: int, start: datetime, end: datetime, seed: int = 5) -> list[dict]:
    """Incidents reported between start and end, each with its milestones; about one in
    six re-levelled (given as an exported line with events, so the re-level is known)."""
    rng = random.Random(seed)
    span = int((end - start).total_seconds())
    incidents = []
    for number in range(1, count + 1):
        reported = start + timedelta(seconds=rng.randrange(span))
        level = rng.choice((1, 2, 2, 3, 3, 3))
        if rng.random() < 0.5:
            title = rng.choice(TEMPLATES).format(n=rng.randrange(1000))
        else:
            title = f"One-off {unique_word(rng)}"
        inc = {
            "id": number,
            "title": title,
            "service": rng.choice(SERVICES),
            "level": level,
            "channel": rng.choice(("hotline", "email", "monitoring", "other")),
            "reported_at": reported,
            "occurred_at": reported - timedelta(minutes=rng.randrange(0, 40)),
            "acknowledged_at": None,
            "transferred_at": None,
            "recovered_at": None,
            "resolved_at": None,
            "closed_at": None,
            "problem": None,
            "relevels": [],
        }
        t = reported
        if rng.random() < 0.9:
            t += timedelta(seconds=rng.randrange(1, 90 * 60))
            inc["acknowledged_at"] = t
        if inc["acknowledged_at"] and rng.random() < 0.2:
            t += timedelta(seconds=rng.randrange(1, 3 * 3600))
            inc["transferred_at"] = t
        if inc["acknowledged_at"] and rng.random() < 0.8:
            t += timedelta(seconds=rng.randrange(1, 12 * 3600))
            inc["recovered_at"] = t
            if rng.random() < 0.75:
                t += timedelta(seconds=rng.randrange(0, 10 * 86400))
                inc["resolved_at"] = t
                if level != 1 and rng.random() < 0.6:
                    inc["closed_at"] = t + timedelta(hours=1)
        if rng.random() < 0.05:
            inc["problem"] = (f"PRB-{number}", rng.choice(("recurring", "unknown-cause")))
        if level == 1 and rng.random() < 0.5:
            # it was opened at Level 2 and worsened a little later
            inc["opened_level"] = 2
            inc["relevels"] = [(reported + timedelta(seconds=rng.randrange(1, 40 * 60)), 1)]
        else:
            inc["opened_level"] = level
        latest = max(v for k, v in inc.items() if k.endswith("_at") and v is not None)
        for moment, _ in inc["relevels"]:
            latest = max(latest, moment)
        assert latest < NOW_DT
        incidents.append(inc)
    return incidents


def line_of(inc: dict) -> str:
    """The incident as an import line: plain, or with its events when it was re-levelled."""
    plain = {
        "id": inc["id"],
        "title": inc["title"],
        "service": inc["service"],
        "level": inc["level"],
        "channel": inc["channel"],
        "reported_at": z(inc["reported_at"]),
        "occurred_at": z(inc["occurred_at"]),
        "assignee": "wang.lei",
    }
    for name in ("acknowledged_at", "transferred_at", "recovered_at", "resolved_at", "closed_at"):
        if inc[name] is not None:
            plain[name] = z(inc[name])
    if inc["resolved_at"]:
        plain["solution"] = "fixed"
    if inc["closed_at"]:
        plain["confirmed_by"] = "reporter"
    if inc["problem"]:
        plain["problem_ref"], plain["problem_reason"] = inc["problem"]
    if not inc["relevels"]:
        return json.dumps(plain)
    events = [
        {
            "kind": "opened",
            "at": plain["reported_at"],
            "data": {"level": inc["opened_level"], "service": inc["service"]},
        }
    ]
    for name, kind, data in (
        ("acknowledged_at", "acknowledged", {}),
        ("transferred_at", "transferred", {"team": "dev", "to": "wang.lei"}),
        ("recovered_at", "recovered", {}),
        ("resolved_at", "resolved", {"solution": "fixed"}),
        ("closed_at", "closed", {"confirmed_by": "reporter"}),
    ):
        if inc[name] is not None:
            events.append({"kind": kind, "at": z(inc[name]), "data": data})
    previous = inc["opened_level"]
    for moment, level in inc["relevels"]:
        events.append(
            {
                "kind": "relevelled",
                "at": z(moment),
                "data": {"to": level, "previous": previous, "reason": "worse"},
            }
        )
        previous = level
    plain["events"] = events
    if inc["transferred_at"]:
        plain["team"] = "dev"
    return json.dumps(plain)


# --- the test's own arithmetic (from SPEC §3, not from incidentctl) ---------------------


def clock_of(inc: dict, clock: str) -> tuple[datetime, datetime, datetime | None]:
    """(start, due, stopped) of one clock, re-levels applied the keep-start way."""
    recovered = inc["recovered_at"] or inc["resolved_at"]
    stops = {
        "response": [inc["acknowledged_at"], inc["transferred_at"], recovered, inc["resolved_at"]],
        "recovery": [recovered, inc["resolved_at"]],
        "resolution": [inc["resolved_at"], inc["transferred_at"]],
    }[clock]
    stopped = min((s for s in stops if s is not None), default=None)
    start = inc["occurred_at"] if clock == "recovery" else inc["reported_at"]
    index = CLOCKS.index(clock)
    due = start + TARGETS[inc["opened_level"]][index]
    for moment, level in inc["relevels"]:
        if stopped is not None and stopped <= moment:
            continue
        if moment >= due:
            continue
        due = start + TARGETS[level][index]
    return start, due, stopped


def verdict(due: datetime, stopped: datetime | None) -> str:
    if stopped is not None:
        return "met" if stopped <= due else "breached"
    return "breached" if NOW_DT >= due else "running"


def status_of(inc: dict) -> str:
    if inc["closed_at"]:
        return "closed"
    if inc["resolved_at"]:
        return "resolved"
    if inc["recovered_at"]:
        return "recovered"
    if inc["acknowledged_at"] or inc["transferred_at"]:
        return "acknowledged"
    return "open"


def expected_report(incidents: list[dict], since: datetime, until: datetime) -> dict:
    mine = [i for i in incidents if since <= i["reported_at"] < until]
    sla = {
        str(level): {c: {"met": 0, "breached": 0, "running": 0} for c in CLOCKS}
        for level in TARGETS
    }
    spans: dict[str, list[float]] = defaultdict(list)
    breaches = set()
    for inc in mine:
        for clock in CLOCKS:
            start, due, stopped = clock_of(inc, clock)
            state = verdict(due, stopped)
            sla[str(inc["level"])][clock][state] += 1
            if stopped is not None:
                spans[clock].append((stopped - start).total_seconds())
            if state == "breached":
                breaches.add((inc["id"], clock))
    for per_clock in sla.values():
        for v in per_clock.values():
            decided = v["met"] + v["breached"]
            v["attainment"] = round(100 * v["met"] / decided, 1) if decided else None
    durations = {}
    for clock in CLOCKS:
        values = sorted(spans[clock])
        if not values:
            durations[clock] = {"count": 0, "mean_s": None, "median_s": None, "p90_s": None}
            continue
        durations[clock] = {
            "count": len(values),
            "mean_s": round(sum(values) / len(values), 1),
            "median_s": round(statistics.median(values), 1),
            "p90_s": round(values[math.ceil(0.9 * len(values)) - 1], 1),
        }
    groups = defaultdict(list)
    for inc in mine:
        if not inc["title"].startswith("One-off"):
            template = next(t for t in TEMPLATES if inc["title"].startswith(t.split(" ")[0]))
            groups[(inc["service"], template)].append(inc["id"])
    return {
        "total": len(mine),
        "by_level": {str(k): sum(1 for i in mine if i["level"] == k) for k in TARGETS},
        "by_service": dict(Counter(i["service"] for i in mine)),
        "by_channel": {
            c: sum(1 for i in mine if i["channel"] == c)
            for c in ("hotline", "email", "monitoring", "other")
        },
        "by_status": {
            s: sum(1 for i in mine if status_of(i) == s)
            for s in ("open", "acknowledged", "recovered", "resolved", "closed")
        },
        "sla": sla,
        "durations": durations,
        "breaches": breaches,
        "transferred": sorted(i["id"] for i in mine if i["transferred_at"]),
        "problems": sorted((i["id"], *i["problem"]) for i in mine if i["problem"]),
        "relevelled": sorted((i["id"], 2, 1) for i in mine if i["relevels"]),
        "recurring": sorted(sorted(ids) for ids in groups.values() if len(ids) >= 2),
    }


def check(report: dict, expected: dict) -> None:
    for key in ("total", "by_level", "by_channel", "by_status", "sla", "durations"):
        assert report[key] == expected[key], key
    assert dict(report["by_service"]) == expected["by_service"]
    counts = list(report["by_service"].values())
    assert counts == sorted(counts, reverse=True)  # busiest first
    assert {(b["id"], b["clock"]) for b in report["breaches"]} == expected["breaches"]
    assert len(report["breaches"]) == len(expected["breaches"])
    assert [t["id"] for t in report["transferred"]] == expected["transferred"]
    assert [(p["id"], p["ref"], p["reason"]) for p in report["problems"]] == expected["problems"]
    assert [(r["id"], r["from"], r["to"]) for r in report["relevelled"]] == expected["relevelled"]
    assert sorted(sorted(g["ids"]) for g in report["recurring"]) == expected["recurring"]


@pytest.fixture(scope="module")
def generated_months() -> list[dict]:
    """October 2026 in Shanghai, plus the month before and the first days after."""
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 9, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(2026, 11, 10, tzinfo=zone).astimezone(UTC)
    return generate(2400, start, end)


@pytest.fixture
def month_of_incidents(cli, seeds, generated_months):
    """The generated incidents imported: once per module, copied for each test."""

    def import_them(cli) -> None:
        source = Path.cwd() / "generated.ndjson"
        source.write_text("".join(line_of(i) + "\n" for i in generated_months))
        assert cli.json("import", str(source), now=NOW)["incidents"] == 2400

    seeds.load(cli, "months", import_them)
    return generated_months


@pytest.mark.storage_contract
def test_month_figures_match_an_independent_computation(cli, month_of_incidents):
    zone = ZoneInfo("Asia/Shanghai")
    since = datetime(2026, 10, 1, tzinfo=zone).astimezone(UTC)
    until = datetime(2026, 11, 1, tzinfo=zone).astimezone(UTC)
    report = cli.json("report", "--month", "2026-10", "--tz", "Asia/Shanghai", now=NOW)
    assert list(report)[:22] == [
        "since",
        "until",
        "tz",
        "month",
        "total",
        "by_level",
        "by_service",
        "by_channel",
        "by_status",
        "by_day",
        "sla",
        "durations",
        "breaches",
        "transferred",
        "problems",
        "relevelled",
        "recurring",
        "reviews_owed",
        "lessons",
        "cancelled",
        "deliveries",
        "previous",
    ]
    assert (report["since"], report["until"], report["tz"]) == (
        "2026-09-30T16:00:00Z",
        "2026-10-31T16:00:00Z",
        "Asia/Shanghai",
    )
    expected = expected_report(month_of_incidents, since, until)
    assert expected["total"] > 1000
    assert expected["relevelled"] and expected["problems"] and expected["transferred"]
    check(report, expected)
    assert sum(report["by_day"].values()) == expected["total"]
    assert len(report["by_day"]) == 31
    assert report["deliveries"] == {"sent": 0, "failed": 0, "late": 0}

    # the previous period is September, computed the same way
    previous = report["previous"]
    september = expected_report(
        month_of_incidents,
        datetime(2026, 9, 1, tzinfo=zone).astimezone(UTC),
        since,
    )
    assert (previous["since"], previous["until"]) == (
        "2026-08-31T16:00:00Z",
        "2026-09-30T16:00:00Z",
    )
    assert previous["total"] == september["total"]
    assert previous["by_level"] == september["by_level"]
    assert previous["sla"] == september["sla"]
    assert previous["durations"] == september["durations"]
    assert previous["breaches"] == len(september["breaches"])
    change = previous["change"]
    assert change["total"] == expected["total"] - september["total"]
    assert change["total_pct"] == round(
        100 * (expected["total"] - september["total"]) / september["total"], 1
    )
    assert change["breaches"] == len(expected["breaches"]) - len(september["breaches"])
    for clock in CLOCKS:
        assert change["durations"][clock]["mean_s"] == round(
            expected["durations"][clock]["mean_s"] - september["durations"][clock]["mean_s"], 1
        )
        assert change["attainment"]["1"][clock] == round(
            expected["sla"]["1"][clock]["attainment"] - september["sla"]["1"][clock]["attainment"],
            1,
        )

    # --since/--until over the same instants gives the same figures
    custom = cli.json(
        "report",
        "--since",
        "2026-10-01 00:00",
        "--until",
        "2026-11-01 00:00",
        "--tz",
        "Asia/Shanghai",
        now=NOW,
    )
    check(custom, expected)
    assert custom["month"] is None
    assert custom["previous"]["since"] == "2026-08-30T16:00:00Z"  # 31 days before


def test_other_formats_carry_the_same_figures(cli, month_of_incidents, tmp_path):
    report = cli.json("report", "--month", "2026-10", "--tz", "Asia/Shanghai", now=NOW)
    rows = list(
        csv.reader(
            io.StringIO(
                cli(
                    "report",
                    "--month",
                    "2026-10",
                    "--tz",
                    "Asia/Shanghai",
                    "--format",
                    "csv",
                    now=NOW,
                ).stdout
            )
        )
    )
    assert rows[0] == ["section", "key", "metric", "value"]
    figures = {(s, k, m): v for s, k, m, v in rows[1:]}
    assert figures[("total", "", "incidents")] == str(report["total"])
    assert figures[("sla", "1.response", "breached")] == str(
        report["sla"]["1"]["response"]["breached"]
    )
    assert figures[("durations", "recovery", "p90_s")] == str(
        report["durations"]["recovery"]["p90_s"]
    )
    assert sum(1 for s, _, _, _ in rows if s == "breaches") == len(report["breaches"])

    table = cli("report", "--month", "2026-10", "--tz", "Asia/Shanghai", now=NOW).stdout
    assert "Incident report — October 2026 (Asia/Shanghai)" in table
    assert f"{report['total']} incidents reported" in table
    assert "█" in table  # the bar charts
    for heading in (
        "By level",
        "By service",
        "SLA attainment",
        "Breaches",
        "Transferred to developers",
        "Recurring",
        "Deliveries",
    ):
        assert heading in table

    markdown = cli(
        "report", "--month", "2026-10", "--tz", "Asia/Shanghai", "--format", "markdown", now=NOW
    ).stdout
    assert markdown.startswith("# Incident report — October 2026 (Asia/Shanghai)")
    level1 = report["sla"]["1"]["response"]
    assert (
        f"| 1 | response | {level1['met']} | {level1['breached']} | {level1['running']} |"
        in markdown
    )

    target = tmp_path / "october.html"
    out = cli(
        "report",
        "--month",
        "2026-10",
        "--tz",
        "Asia/Shanghai",
        "--format",
        "html",
        "--output",
        str(target),
        now=NOW,
    )
    assert out.stdout == ""
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") >= 6
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "default-src 'none'" in page
    assert f"<b>{report['total']}</b>" in page


@pytest.mark.storage_contract
def test_month_edges_in_the_report_time_zone(cli, tmp_path):
    # October 2026 in Shanghai is [2026-09-30T16:00Z, 2026-10-31T16:00Z)
    edges = {
        "2026-09-30T15:59:59Z": False,
        "2026-09-30T16:00:00Z": True,
        "2026-10-31T15:59:59Z": True,
        "2026-10-31T16:00:00Z": False,
    }
    lines = [
        json.dumps({"title": f"edge {i}", "service": "s", "level": 3, "reported_at": moment})
        for i, moment in enumerate(edges)
    ]
    source = tmp_path / "edges.ndjson"
    source.write_text("\n".join(lines) + "\n")
    cli("import", str(source), now=NOW)
    report = cli.json("report", "--month", "2026-10", "--tz", "Asia/Shanghai", now=NOW)
    assert report["total"] == 2
    assert report["by_day"]["2026-10-01"] == 1 and report["by_day"]["2026-10-31"] == 1
    assert report["previous"]["total"] == 1
    assert report["previous"]["total"] == 1
    # The same instants in UTC months: a different split (edges 2 and 3 in October).
    utc = cli.json("report", "--month", "2026-10", "--tz", "UTC", now=NOW)
    assert utc["total"] == 2 and utc["previous"]["total"] == 2
    assert utc["by_day"]["2026-10-31"] == 2


@pytest.mark.storage_contract
@pytest.mark.parametrize(
    ("zone", "month", "since", "until", "inside", "outside"),
    [
        # Berlin springs forward on 29 March: the month is 31 days less one hour.
        (
            "Europe/Berlin",
            "2026-03",
            "2026-02-28T23:00:00Z",
            "2026-03-31T22:00:00Z",
            [
                "2026-02-28T23:00:00Z",
                "2026-03-29T00:59:59Z",
                "2026-03-29T01:00:00Z",
                "2026-03-31T21:59:59Z",
            ],
            ["2026-02-28T22:59:59Z", "2026-03-31T22:00:00Z"],
        ),
        # New York falls back on 1 November: the month is 30 days and one hour.
        (
            "America/New_York",
            "2026-11",
            "2026-11-01T04:00:00Z",
            "2026-12-01T05:00:00Z",
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:30:00Z",
                "2026-12-01T04:59:59Z",
            ],
            ["2026-11-01T03:59:59Z", "2026-12-01T05:00:00Z"],
        ),
    ],
)
def test_a_month_across_a_dst_change(cli, tmp_path, zone, month, since, until, inside, outside):
    lines = [
        json.dumps({"title": f"t {i}", "service": "s", "level": 3, "reported_at": m})
        for i, m in enumerate(inside + outside)
    ]
    source = tmp_path / "dst.ndjson"
    source.write_text("\n".join(lines) + "\n")
    cli("import", str(source), now=NOW)
    report = cli.json("report", "--month", month, "--tz", zone, now=NOW)
    assert (report["since"], report["until"]) == (since, until)
    assert report["total"] == len(inside)
    days = report["by_day"]
    assert len(days) == (31 if month == "2026-03" else 30)
    local_days = Counter(
        datetime.fromisoformat(m.replace("Z", "+00:00"))
        .astimezone(ZoneInfo(zone))
        .date()
        .isoformat()
        for m in inside
    )
    assert {d: n for d, n in days.items() if n} == dict(local_days)


def test_an_empty_month_is_all_zeros_in_every_format(cli, tmp_path):
    report = cli.json("report", "--month", "2026-02", "--tz", "UTC", now=NOW)
    assert report["total"] == 0
    assert report["by_level"] == {"1": 0, "2": 0, "3": 0}
    assert report["by_service"] == {}
    assert report["by_status"] == {
        s: 0 for s in ("open", "acknowledged", "recovered", "resolved", "closed")
    }
    assert report["sla"]["2"]["recovery"] == {
        "met": 0,
        "breached": 0,
        "running": 0,
        "attainment": None,
    }
    assert report["durations"]["response"] == {
        "count": 0,
        "mean_s": None,
        "median_s": None,
        "p90_s": None,
    }
    for key in (
        "breaches",
        "transferred",
        "problems",
        "relevelled",
        "recurring",
        "reviews_owed",
        "lessons",
        "cancelled",
    ):
        assert report[key] == []
    assert report["deliveries"] == {"sent": 0, "failed": 0, "late": 0}
    assert report["previous"]["total"] == 0 and report["previous"]["change"]["total_pct"] is None
    assert set(report["by_day"].values()) == {0} and len(report["by_day"]) == 28
    for fmt in ("table", "csv", "markdown", "html"):
        assert cli("report", "--month", "2026-02", "--format", fmt, now=NOW).stdout


def test_default_period_is_this_month_and_last_means_the_one_before(cli):
    this = cli.json("report", "--tz", "UTC", now=NOW)
    assert (this["since"], this["until"], this["month"]) == (
        "2026-12-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
        "2026-12",
    )
    last = cli.json("report", "--month", "last", "--tz", "UTC", now=NOW)
    assert last["month"] == "2026-11"
    # without --tz the local zone (TZ) is the report's
    assert cli.json("report", now=NOW, env={"TZ": "Asia/Tokyo"})["tz"] == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "use YYYY-MM"),
        (["--month", "October"], "use YYYY-MM"),
        (["--month", "2026-10", "--since", "2026-10-01 00:00"], "not both"),
        (["--until", "2026-10-01 00:00"], "--until needs --since"),
        (["--since", "2026-10-02 00:00", "--until", "2026-10-01 00:00"], "before --until"),
        (["--tz", "Mars/Olympus"], "not a known time zone"),
    ],
)
def test_bad_periods_are_refused(cli, args, message):
    out = cli("report", *args, "--json", now=NOW, expect=2)
    assert out.error["error"] == "invalid_input"
    assert message in out.error["message"]


def test_deliveries_sent_failed_and_late_come_from_the_outbox(cli):
    # Two Level-1 incidents; the first escalate run is 45 minutes after the first report,
    # so its initial notices are late (policy: within 30m); the second's are on time.
    cli(
        "open",
        "Checkout fails",
        "--level",
        "1",
        "--service",
        "payments",
        now="2026-11-25T03:00:00Z",
    )
    cli("open", "Login broken", "--level", "1", "--service", "login", now="2026-11-25T03:30:00Z")
    cli("escalate", now="2026-11-25T03:45:00Z", expect=None)
    shown = [cli.json("show", str(i), now=NOW) for i in (1, 2)]
    statuses = Counter(d["status"] for s in shown for d in s["deliveries"])
    late = sum(
        1
        for d in shown[0]["deliveries"]
        if d["notice"] == "initial" and d["status"] in ("sent", "printed")
    )
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)
    assert report["deliveries"] == {
        "sent": statuses["sent"] + statuses["printed"],
        "failed": statuses["failed"],
        "late": late,
    }
    assert report["deliveries"]["sent"] > 0 and late > 0


def test_the_html_report_renders_in_headless_chromium(cli, month_of_incidents, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    if cli.db.startswith("postgresql"):
        pytest.skip("the page is the same on both engines; rendered once, on SQLite")
    page = tmp_path / "report.html"
    shot = tmp_path / "report.png"
    cli(
        "report",
        "--month",
        "2026-10",
        "--tz",
        "Asia/Shanghai",
        "--format",
        "html",
        "-o",
        str(page),
        now=NOW,
    )
    profile = tmp_path / "profile"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    data = Path(shot).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 2000)
    assert len(data) > 50_000  # charts and tables, not a blank page


def test_typed_text_is_escaped_in_every_report_format(cli, tmp_path):
    title = "<script>alert(1)</script> | **x** \x1b[31m"
    cli("open", title, "--level", "1", "--service", "<b>web</b>", now="2026-11-25T03:00:00Z")
    cli("open", title, "--level", "1", "--service", "<b>web</b>", now="2026-11-25T03:01:00Z")
    report = cli.json("report", "--month", "2026-11", "--tz", "UTC", now=NOW)
    assert report["recurring"][0]["title"] == title  # JSON keeps the text as typed
    assert len(report["breaches"]) == 6
    page = cli("report", "--month", "2026-11", "--tz", "UTC", "--format", "html", now=NOW).stdout
    assert "<script>" not in page and "<b>web" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | **x** \\x1b[31m" in page
    markdown = cli(
        "report", "--month", "2026-11", "--tz", "UTC", "--format", "markdown", now=NOW
    ).stdout
    assert "\\<script>alert(1)\\</script> \\| \\*\\*x\\*\\* \\x1b\\[31m" in markdown
    table = cli("report", "--month", "2026-11", "--tz", "UTC", now=NOW).stdout
    assert "\x1b" not in table and "\\x1b[31m" in table
