"""Issue 12 item 4: escalation that climbs. An overdue clock's own rule may list steps
(``after`` the breach, to whom) and ``repeat`` the last while the clock runs and nobody
acknowledged the incident; each step is keyed, so it is sent once."""

from __future__ import annotations

from datetime import datetime, timedelta

from test_escalate import write_policy

T0 = "2026-11-25T03:00:00Z"
LADDER = """
[notifications.overdue-recovery]
steps = [
  { after = "0m", to = ["service_owner"], phone = ["rd_leader"] },
  { after = "30m", to = ["incident_managers"] },
]
repeat = "1h"
"""


def at(minutes: float) -> str:
    moment = datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def recovery_escalations(cli, minutes: float) -> list[tuple[str, str]]:
    """(channel, to) of the overdue-recovery deliveries a real pass at T0 + minutes sent."""
    document = cli.json("escalate", now=at(minutes))
    return sorted(
        (d["channel"], d["to"]) for d in document["deliveries"] if d["notice"] == "overdue-recovery"
    )


def sequences(cli) -> list[int]:
    shown = cli.json("show", "1", now=at(1000))
    return sorted({d["sequence"] for d in shown["deliveries"] if d["notice"] == "overdue-recovery"})


def test_the_escalation_climbs_step_by_step(cli, tmp_path):
    write_policy(tmp_path, extra=LADDER)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("ack", "1", now=at(5))
    cli("escalate", now=at(6))
    assert recovery_escalations(cli, 119) == []
    assert recovery_escalations(cli, 121) == [  # recovery due at 2h: the first step
        ("email", "chen.jie@example.com"),
        ("phone", "+8613800000004"),
        ("sms", "+8613800000001"),
    ]
    assert recovery_escalations(cli, 149) == []
    assert recovery_escalations(cli, 151) == [  # 30 min later: the incident managers
        ("email", "zhang.min@example.com"),
        ("sms", "+8613800000005"),
    ]
    assert recovery_escalations(cli, 300) == []  # acknowledged: no repeats
    assert sequences(cli) == [0, 1]


def test_the_last_step_repeats_until_acknowledged_without_a_burst(cli, tmp_path, capsys):
    write_policy(tmp_path, extra=LADDER)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    for minutes in (1, 121, 151):
        cli("escalate", now=at(minutes))
    out = cli("escalate", now=at(211)).stdout  # an hour after the last step
    assert "Escalation step" not in out
    assert "Still overdue: reminder 1 (every 1h until acknowledged)." in out
    cli("escalate", now=at(335))  # marks at 4h30 and 5h30 passed: only the latest
    assert sequences(cli) == [0, 1, 2, 4]
    cli("ack", "1", now=at(340))
    assert recovery_escalations(cli, 400) == []
    assert recovery_escalations(cli, 460) == []


def test_a_step_says_where_the_escalation_stands(cli, tmp_path):
    write_policy(tmp_path, extra=LADDER)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("ack", "1", now=at(5))
    cli("escalate", now=at(121))
    out = cli("escalate", now=at(151)).stdout
    assert "Recovery overdue by 31m: was due 2026-11-25 05:00 UTC (2h target)." in out
    assert "Escalation step 2 of 2." in out


def test_without_steps_an_overdue_clock_is_escalated_once_as_before(cli, tmp_path):
    write_policy(tmp_path)
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    cli("ack", "1", now=at(5))
    assert len(recovery_escalations(cli, 121)) == 3  # sms + email + phone
    assert recovery_escalations(cli, 400) == []
    assert sequences(cli) == [0]


def test_policy_check_finds_steps_that_can_never_fire(cli, tmp_path):
    write_policy(
        tmp_path,
        extra="""
[notifications.overdue-recovery]
steps = [
  { after = "0m", to = ["service_owner"] },
  { after = "0m", to = ["rd_leader"] },
  { after = "1h", cc = [] },
]
""",
    )
    out = cli("policy", "check", expect=5)
    assert "notifications.overdue-recovery.steps[1]: at the same time as an earlier step" in (
        out.stderr
    )
    assert "notifications.overdue-recovery.steps[2]: reaches nobody, so it can never fire" in (
        out.stderr
    )


def test_a_step_nobody_can_receive_yet_waits_for_someone_without_filling_the_timeline(
    cli, tmp_path
):
    write_policy(
        tmp_path,
        extra="""
[notifications.overdue-recovery]
steps = [{ after = "0m", to = ["service_owner"] }, { after = "5m", to = ["assignee"] }]
""",
    )
    cli("open", "Checkout fails", "--level", "1", "--service", "payments", now=T0)
    for minutes in (121, 130, 140):
        cli("escalate", now=at(minutes), expect=None)
    events = cli.json("show", "1", now=at(141))["events"]
    recovery = [e for e in events if e["kind"] == "notified"
                and e["data"]["notice"] == "overdue-recovery"]  # fmt: skip
    assert [e["data"]["sequence"] for e in recovery] == [0]  # step 1 reached nobody yet
    cli("--as", "wang.lei", "assign", "1", "--to", "wang.fang", now=at(145))
    assert ("email", "wang.fang@example.com") in recovery_escalations(cli, 146)
    assert sequences(cli) == [0, 1]
