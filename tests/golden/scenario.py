"""The golden scenario: a history built through the real CLI at fixed times, and the
outputs recorded from it.

Read by ``tests/test_golden.py``, which plays ``STEPS`` on a fresh database (every
command with ``INCIDENTCTL_NOW`` set to the step's time), then runs ``RECORDINGS`` and
compares their stdout, byte for byte, with the files in ``tests/golden/outputs/``.
The steps' own output (stdout, stderr and exit status of each) is compared too, as one
transcript: ``outputs/scenario.txt``.

Nothing here may depend on the machine: fixed times, TZ=UTC (tests/conftest.py), no
path of the test's temporary directory in any output (the import reads standard input;
``--config`` paths never reach stdout or stderr in these commands), and the failing
transports are a webhook to port 0 on the loopback interface (nothing can listen there:
"Connection refused" at once, with the same URL in every error) and the ``false``
command (exit 1: a permanent failure).

What it covers, by incident (ids as the store assigns them):

- #1  Level 3, service ``search`` (not in the policy: the open prints a note), reported
      in October (the report's previous period); ack, resolve, close.
- #2  Level 2 reported 2026-10-31 17:30Z, which is November in Asia/Shanghai: the two
      reports split it differently. Resolved without a prior recover (implied), closed,
      reopened (status recovered), resolved and closed again.
- #3  Level 1 with details (newline, non-ASCII), channel, reporter, contact, occurred,
      assignee; ack by another actor, a note of each kind, transfer to dev, recover,
      resolve, a refused approve (not a manager), a refused close (no approval yet),
      approve by the incident manager, close, a lesson after the close, problem; at the
      end of the scenario its review's impact, root cause and action items.
- #4  Level 2 relevelled up to 1 (response due moves back and is breached by the late
      ack), assign, recovery breached, resolved and approved but not closed.
- #5  Level 1 relevelled down to 2, acked in time, transferred to dev and back to om;
      recovery left running into a breach.
- #6  Level 3, never acknowledged: every clock breaches while running.
- #7  Level 2 opened ``--at`` an earlier time with ``--occurred``; ack ``--at``;
      resolved without recover; closed by a non-ASCII name.
- #8  Level 2 whose title, details and reporter hold an ESC sequence, a DEL, bidi
      overrides, a tab and non-ASCII letters; acknowledged, left open.
- #9  Level 1, never acknowledged, opened on 10 November: from then on the notices go
      through the failing transports (its own and those of #5 and #8): deliveries
      ``retry`` (webhook refused), ``failed`` (command exit 1) and, after three
      attempts, ``failed`` (gave up); the last pass leaves retries waiting, which the
      dry run lists.
- #10 Level 2 recovered (status recovered, resolution clock running).
- #11 Level 3 acked, resolved, closed the same day.
- #12, #13, #50, #51: imported from plain NDJSON lines (derived timelines): a closed
      Level 2; a Level 1 transferred to dev, resolved (recovery implied), approved and
      sent to problem management (its reference corrected at the end of the scenario);
      an open Level 2 with an explicit id (50) that owes its
      past notices; a Level 3 without an id (takes the next free one).
- #52 Level 1 resolved without approval (the close is refused).
- #53 Level 2 opened late on the 19th, never acknowledged.
- #54 Level 1 opened five minutes before the recordings: its clocks are running.

``escalate`` passes run along the way: with the built-in policy (no transports, so the
notices are printed, on stderr with ``--json``) and, from 10 November, with the failing
policy. The recordings are made at ``RECORD_AT`` (20 November, 12:00Z).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

RECORD_AT = "2026-11-20T12:00:00Z"


def at(moment: str) -> str:
    """``"11-02 01:00"`` as the RFC 3339 instant 2026-11-02T01:00:00Z."""
    day, clock = moment.split(" ")
    return f"2026-{day}T{clock}:00Z"


@dataclass(frozen=True)
class Step:
    now: str  # INCIDENTCTL_NOW for the command
    args: tuple[str, ...]
    expect: int = 0  # the exit status it must end with
    policy: str | None = None  # "failing": run with --config <the failing policy>
    stdin: bytes | None = None  # standard input (the import reads "-")


STEPS: list[Step] = []


def step(
    moment: str, *args: str, expect: int = 0, policy: str | None = None, stdin: bytes | None = None
) -> None:
    STEPS.append(Step(at(moment), (*args, "--json"), expect, policy, stdin))


def escalate(moment: str, *, expect: int = 0, policy: str | None = None) -> None:
    step(moment, "escalate", expect=expect, policy=policy)


# The plain lines imported on 16 November: no events, so the timelines are derived.
IMPORT_LINES = [
    {
        "title": "Imported: VPN drops every few minutes",
        "service": "accounts",
        "level": 2,
        "channel": "hotline",
        "reporter": "IT desk",
        "assignee": "wang.lei",
        "reported_at": "2026-11-05T10:00:00Z",
        "acknowledged_at": "2026-11-05T10:10:00Z",
        "recovered_at": "2026-11-05T11:00:00Z",
        "resolved_at": "2026-11-05T12:00:00Z",
        "solution": "Renewed the gateway certificate",
        "closed_at": "2026-11-06T09:00:00Z",
        "confirmed_by": "IT desk",
    },
    {
        "title": "Imported: ledger mismatch — 账目不符",
        "details": "totals differ by ¥0.01\u202e",
        "service": "payments",
        "level": 1,
        "channel": "email",
        "assignee": "liu.yang",
        "team": "dev",
        "occurred_at": "2026-11-06T02:40:00Z",
        "reported_at": "2026-11-06T03:00:00Z",
        "transferred_at": "2026-11-06T03:20:00Z",
        "resolved_at": "2026-11-07T03:00:00Z",
        "solution": "Reconciled the rounding",
        "approved_at": "2026-11-07T04:00:00Z",
        "approved_by": "zhang.min",
        "problem_ref": "PRB-9",
        "problem_reason": "unknown-cause",
    },
    {
        "id": 50,
        "title": "Imported: mail queue stuck",
        "details": "queue > 10k\nsince the upgrade",
        "service": "mail",
        "level": 2,
        "channel": "monitoring",
        "reported_at": "2026-11-14T20:00:00Z",
    },
    {
        "title": "Imported: FAQ search returns nothing",
        "service": "web-portal",
        "level": 3,
        "reported_at": "2026-11-15T08:00:00Z",
        "acknowledged_at": "2026-11-15T08:30:00Z",
    },
]
IMPORT_NDJSON = "".join(
    json.dumps(line, ensure_ascii=False) + "\n" for line in IMPORT_LINES
).encode("utf-8")

ESC_TITLE = "Sign-in \x1b[31mred\x1b[0m banner"
ODD_DETAILS = "shows \u202eRTL\u202c text, a DEL \x7f and a tab\there; Größe 🚀"

# -- October: the previous period -------------------------------------------------------
step(
    "10-28 09:00",
    "open",
    "Report export slow",
    "--level",
    "3",
    "--service",
    "search",
    "--channel",
    "email",
    "--reporter",
    "Li Na",
)  # 1
step("10-28 09:20", "--as", "li.na", "ack", "1")
step("10-29 10:00", "resolve", "1", "--solution", "Index rebuilt")
step("10-29 12:00", "close", "1", "--confirmed-by", "Li Na")

step(
    "10-31 17:30",
    "open",
    "Login page blank — 登录页空白",
    "--level",
    "2",
    "--service",
    "web-portal",
    "--channel",
    "monitoring",
)  # 2
escalate("10-31 17:31")
step("10-31 17:40", "ack", "2")
step("10-31 19:00", "resolve", "2", "--solution", "CDN purge")  # no recover before it
escalate("10-31 19:01")
step("11-01 09:00", "close", "2", "--confirmed-by", "Wang Fang")

# -- 2 November: a busy night ---------------------------------------------------------------
step(
    "11-02 01:00",
    "open",
    "Checkout fails with 502",
    "--level",
    "1",
    "--service",
    "payments",
    "--details",
    "all card payments\nsince 00:45 — 支付失败",
    "--channel",
    "hotline",
    "--reporter",
    "Wang Fang",
    "--contact",
    "+8613900000000",
    "--occurred",
    "2026-11-02T00:45:00Z",
    "--assignee",
    "wang.lei",
)  # 3
escalate("11-02 01:01")
step("11-02 01:05", "--as", "wang.lei", "ack", "3")
step("11-02 01:10", "note", "3", "Rolled back 3.2.1; error rate falling")
step("11-02 01:20", "note", "3", "Merchants told: ETA 1h ✓", "--kind", "customer-update")
step("11-02 01:30", "transfer", "3", "--to", "liu.yang", "--reason", "needs a code fix")
step(
    "11-02 02:00",
    "open",
    "Password reset emails delayed",
    "--level",
    "2",
    "--service",
    "accounts",
    "--channel",
    "email",
    "--reporter",
    "Ann Lee",
    "--contact",
    "ann@example.org",
)  # 4
escalate("11-02 02:01")
step("11-02 02:05", "relevel", "4", "--level", "1", "--reason", "all resets failing")
step("11-02 02:15", "--as", "王芳", "note", "3", "Pool exhausted at 02:10", "--kind", "progress")
step("11-02 02:20", "ack", "4")  # after its Level-1 response due time (02:10)
step("11-02 02:25", "assign", "4", "--to", "zhao.lei")
step("11-02 02:30", "recover", "3")
escalate("11-02 02:31", expect=6)  # zhao.lei, the new owner of #4, has no contact to tell
step(
    "11-02 03:00", "open", "Portal shows error 500", "--level", "1", "--service", "web-portal"
)  # 5
step("11-02 03:00", "resolve", "3", "--solution", "Pool size fixed in 3.2.2 — 连接池")
step("11-02 03:05", "relevel", "5", "--level", "2", "--reason", "only one region affected")
step("11-02 03:06", "--as", "li.wei", "approve", "3", expect=4)  # not an incident manager
step("11-02 03:07", "close", "3", "--confirmed-by", "Wang Fang", expect=4)  # no approval yet
step("11-02 03:10", "--as", "zhang.min", "approve", "3")
step("11-02 03:25", "ack", "5")
step("11-02 03:30", "close", "3", "--confirmed-by", "Wang Fang")
step("11-02 03:40", "transfer", "5", "--to", "liu.yang", "--reason", "stack trace in the portal")
step("11-02 03:41", "note", "3", "Alert on pool saturation", "--kind", "lesson")
step("11-02 03:45", "problem", "3", "--ref", "PRB-7", "--reason", "known-defect")
step("11-02 04:00", "open", "Search results stale", "--level", "3", "--service", "search")  # 6
step(
    "11-02 04:30",
    "transfer",
    "5",
    "--to",
    "wang.lei",
    "--team",
    "om",
    "--reason",
    "config issue after all",
)
step("11-02 05:00", "recover", "4")  # after its recovery due time (04:00)
escalate("11-02 05:30")
step("11-02 06:00", "resolve", "4", "--solution", "Mail relay quota raised")
step("11-02 06:10", "--as", "zhang.min", "approve", "4")
escalate("11-02 06:11")

# -- 3 November -------------------------------------------------------------------------------
step(
    "11-03 08:00",
    "open",
    "Refund API timeouts",
    "--level",
    "2",
    "--service",
    "payments",
    "--at",
    "2026-11-03T07:50:00Z",
    "--occurred",
    "2026-11-03T07:30:00Z",
)  # 7
step("11-03 08:00", "reopen", "2", "--reason", "blank again after the deploy")
step("11-03 08:05", "ack", "7", "--at", "2026-11-03T07:55:00Z")
step("11-03 08:40", "resolve", "7", "--solution", "Timeout raised to 5s")
step("11-03 09:00", "close", "7", "--confirmed-by", "李雷")
step(
    "11-03 09:00",
    "open",
    ESC_TITLE,
    "--level",
    "2",
    "--service",
    "accounts",
    "--details",
    ODD_DETAILS,
    "--reporter",
    "Zoë Ñúñez",
    "--contact",
    "zoe@example.org",
)  # 8
step("11-03 09:10", "ack", "8")
step("11-03 09:15", "note", "8", "Reproduced on 3 of 5 nodes\tstill \x1b[1minvestigating")
escalate("11-03 09:30")
step("11-03 10:00", "resolve", "2", "--solution", "Pinned the CDN config")
step("11-03 12:00", "close", "2", "--confirmed-by", "Wang Fang")

# -- 10 November: notices through failing transports -----------------------------------------
step(
    "11-10 10:00",
    "open",
    "Card tokenisation down",
    "--level",
    "1",
    "--service",
    "payments",
    "--channel",
    "monitoring",
    "--occurred",
    "2026-11-10T09:30:00Z",
)  # 9
escalate("11-10 10:01", policy="failing", expect=6)  # first attempts
escalate("11-10 10:02", policy="failing", expect=6)  # retries after 1m: second attempts
escalate("11-10 10:04", policy="failing", expect=6)  # after 2m more: gave up after 3
escalate("11-10 10:20", policy="failing", expect=6)  # #9's overdue-response: first attempts

# -- the rest of the month -------------------------------------------------------------------
step(
    "11-12 06:00",
    "open",
    "Login slow for some users",
    "--level",
    "2",
    "--service",
    "login",
    "--channel",
    "monitoring",
    "--assignee",
    "wang.lei",
)  # 10
step("11-12 06:10", "ack", "10")
step("11-12 07:00", "recover", "10")
step("11-15 12:00", "open", "Typo on FAQ page", "--level", "3", "--service", "web-portal")  # 11
step("11-15 12:30", "ack", "11")
step("11-15 14:00", "resolve", "11", "--solution", "Fixed the typo")
step("11-15 15:00", "close", "11", "--confirmed-by", "Web team")
step("11-16 00:00", "import", "-", stdin=IMPORT_NDJSON)  # 12, 13, 50, 51
step(
    "11-18 00:00", "open", "Accounts DB replica lag", "--level", "1", "--service", "accounts"
)  # 52
step("11-18 00:05", "ack", "52")
step("11-18 01:00", "recover", "52")
step("11-18 02:00", "resolve", "52", "--solution", "Replica rebuilt")
step("11-18 02:30", "close", "52", "--confirmed-by", "Ops", expect=4)  # needs approval
step(
    "11-19 22:00", "open", "Payment webhook retries", "--level", "2", "--service", "payments"
)  # 53
escalate("11-19 23:00", policy="failing", expect=6)
escalate("11-20 11:50", policy="failing", expect=6)  # cron still runs: no warning below
step("11-20 11:55", "open", "Homepage slow ☕", "--level", "1", "--service", "web-portal")  # 54
# The review's parts of #3, written late; #13's problem reference corrected (an event).
step("11-20 11:56", "note", "3", "Card payments failed for ~2h; order #0 lost", "--kind", "impact")
step("11-20 11:57", "note", "3", "pool_size 20 for a peak of 400", "--kind", "root-cause")
step("11-20 11:58", "note", "3", "Size the pool from load tests", "--kind", "action")
step("11-20 11:59", "problem", "13", "--ref", "PRB-10")

INCIDENT_IDS = (*range(1, 12), 12, 13, 50, 51, 52, 53, 54)
STATUSES = ("open", "acknowledged", "recovered", "resolved", "closed")


@dataclass(frozen=True)
class Recording:
    name: str  # the file in outputs/ that holds its stdout
    args: tuple[str, ...]
    now: str = RECORD_AT


RECORDINGS: list[Recording] = [
    Recording("list.json", ("list", "--json")),
    *(Recording(f"list-status-{s}.json", ("list", "--status", s, "--json")) for s in STATUSES),
    Recording("list-all.json", ("list", *(a for s in STATUSES for a in ("--status", s)), "--json")),
    *(Recording(f"show-{i:02d}.json", ("show", str(i), "--json")) for i in INCIDENT_IDS),
    Recording("report-2026-11-UTC.json", ("report", "--month", "2026-11", "--json", "--tz", "UTC")),
    Recording(
        "report-2026-11-Asia_Shanghai.json",
        ("report", "--month", "2026-11", "--json", "--tz", "Asia/Shanghai"),
    ),
    Recording("escalate-dry-run.json", ("escalate", "--dry-run", "--json")),
    Recording("export.ndjson", ("export",)),
    Recording("export.json", ("export", "--format", "json")),
    Recording("board.json", ("board", "--json")),
    # The reviews of the major incident and of the one whose text holds control bytes.
    Recording("review-03.md", ("show", "3", "--format", "markdown")),
    Recording("review-08.md", ("show", "8", "--format", "markdown")),
    Recording(
        "report-2026-11-UTC.md",
        ("report", "--month", "2026-11", "--tz", "UTC", "--format", "markdown"),
    ),
]


def failing_policy(builtin: str) -> str:
    """The built-in policy with transports that fail, and three attempts at most."""
    text = builtin.replace("max_attempts = 10", "max_attempts = 3")
    assert text != builtin, "the built-in policy no longer says max_attempts = 10"
    return text + (
        "\n[transports.sms]\n"
        'type = "webhook"\n'
        'url = "http://127.0.0.1:0/sms"\n'  # port 0: never listening, refused at once
        'timeout = "2s"\n'
        "\n[transports.phone]\n"
        'type = "command"\n'
        'argv = ["false"]\n'  # exit 1: a permanent failure
    )
