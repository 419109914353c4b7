"""``intake alert``: Alertmanager's webhook (version 4) and plain JSON alerts; one
incident per alert, repeats and resolutions on it, a new incident after close, rules,
storm control, refusals that change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from test_escalate import at, write_policy


def am_alert(
    fingerprint: str,
    *,
    name: str = "HighErrorRate",
    status: str = "firing",
    service: str = "payments",
    severity: str = "critical",
    starts: str = at(-2).replace("Z", ".123456789Z"),  # (nanoseconds, as Alertmanager writes)
    ends: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "service": service,
            "severity": severity,
            "instance": f"{fingerprint}.example:9100",
            **labels,
        },
        "annotations": {
            "summary": f"{name} on {fingerprint}",
            "description": "5xx above 5% for 5 minutes",
        },
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any], group: str = '{}:{alertname="HighErrorRate"}') -> str:
    firing = any(a["status"] == "firing" for a in alerts)
    return json.dumps(
        {
            "version": "4",
            "groupKey": group,
            "truncatedAlerts": 0,
            "status": "firing" if firing else "resolved",
            "receiver": "incidentctl",
            "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
            "commonLabels": {"alertname": alerts[0]["labels"]["alertname"]},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": list(alerts),
        }
    )


def take(cli, payload: str | dict[str, Any], *, now: str = at(0), expect: int = 0):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    out = cli("intake", "alert", "--json", input=text, now=now, expect=expect)
    return out.json if expect == 0 else out


def actions(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(o["action"], o["incident"]) for o in doc["outcomes"]]


@pytest.mark.storage_contract
def test_each_alert_of_a_webhook_opens_one_incident_from_its_labels(cli):
    doc = take(cli, webhook(am_alert("a1"), am_alert("b2", severity="warning", service="web")))
    assert actions(doc) == [("opened", 1), ("opened", 2)]
    first, second = cli.json("show", "1"), cli.json("show", "2")
    assert (first["title"], first["service"], first["level"]) == (
        "HighErrorRate on a1",
        "payments",
        1,
    )
    assert (second["service"], second["level"]) == ("web", 2)  # severity warning: level 2
    assert first["channel"] == "monitoring"
    assert first["occurred_at"] == at(-2)
    assert first["reported_at"] == at(0)
    assert "5xx above 5% for 5 minutes" in first["details"]
    assert "severity=critical" in first["details"]
    assert "Source: http://prometheus.example:9090/graph" in first["details"]
    assert first["events"][0]["actor"] == "alertmanager"


@pytest.mark.storage_contract
def test_a_repeat_adds_nothing_and_the_resolution_recovers_at_its_end(cli):
    take(cli, webhook(am_alert("a1")))
    before = cli.json("show", "1")
    again = take(cli, webhook(am_alert("a1")), now=at(5))
    assert actions(again) == [("repeat", 1)]
    assert cli.json("show", "1")["events"] == before["events"]
    resolved = am_alert("a1", status="resolved", ends=at(20))
    assert actions(take(cli, webhook(resolved), now=at(30))) == [("recovered", 1)]
    shown = cli.json("show", "1")
    assert shown["status"] == "recovered"
    assert shown["recovered_at"] == at(20)
    assert len(cli.json("list")) == 1
    # The resolution again (a webhook retried): nothing more is recorded.
    events = cli.json("show", "1")["events"]
    assert actions(take(cli, webhook(resolved), now=at(31))) == [("repeat", 1)]
    assert cli.json("show", "1")["events"] == events


def test_the_policy_can_note_repeats_and_resolutions_instead(cli, tmp_path):
    write_policy(tmp_path, extra='\n[intake.alert]\nrepeat = "note"\nresolved = "note"\n')
    take(cli, webhook(am_alert("a1")))
    assert actions(take(cli, webhook(am_alert("a1")), now=at(5))) == [("repeat", 1)]
    resolved = am_alert("a1", status="resolved", ends=at(20))
    assert actions(take(cli, webhook(resolved), now=at(30))) == [("noted", 1)]
    shown = cli.json("show", "1")
    assert shown["status"] == "open"
    notes = [e["data"]["text"] for e in shown["events"] if e["kind"] == "note"]
    assert notes == [
        "Still firing: HighErrorRate on a1 [a1]",
        "Resolved: HighErrorRate on a1 [a1]",
    ]


@pytest.mark.storage_contract
def test_firing_after_close_opens_a_new_incident_that_follows_the_last(cli):
    take(cli, webhook(am_alert("a1")))
    cli("resolve", "1", "--solution", "rolled back", now=at(20))
    cli("approve", "1", "--as", "zhang.min", now=at(21))
    cli("close", "1", "--confirmed-by", "reporter", now=at(22))
    doc = take(cli, webhook(am_alert("a1")), now=at(60))
    assert doc["outcomes"][0]["action"] == "opened"
    assert doc["outcomes"][0]["incident"] == 2
    assert doc["outcomes"][0]["follows"] == 1
    shown = cli.json("show", "2")
    assert shown["events"][0]["data"]["follows"] == 1
    assert "follows #1 (closed)" in cli("show", "2").stdout
    # The same alert again is a repeat on the new incident.
    out = cli("intake", "alert", input=webhook(am_alert("a1")), now=at(61))
    assert out.stdout == "a repeat: incident 2 has it already: HighErrorRate on a1\n"


def test_a_resolution_nobody_has_open_records_nothing(cli):
    doc = take(cli, webhook(am_alert("zz", status="resolved", ends=at(0))))
    assert actions(doc) == [("ignored", None)]
    assert cli.json("list") == []


def test_a_firing_alert_on_a_recovered_incident_is_noted(cli):
    take(cli, webhook(am_alert("a1")))
    take(cli, webhook(am_alert("a1", status="resolved", ends=at(4))), now=at(5))
    assert actions(take(cli, webhook(am_alert("a1")), now=at(9))) == [("noted", 1)]
    assert cli.json("show", "1")["events"][-1]["data"]["text"] == (
        "Firing again after the recovery: HighErrorRate on a1 [a1]"
    )


def test_rules_map_labels_to_service_and_level(cli, tmp_path):
    write_policy(
        tmp_path,
        extra="""
[intake.alert]
service_label = "app"
level = 3

[[intake.alert.rules]]
match = { team = "pay", severity = "critical" }
service = "payments"
level = 1
""",
    )
    doc = take(
        cli,
        webhook(
            am_alert("r1", team="pay"),
            am_alert("r2", team="pay", severity="page-me-maybe"),
            am_alert("r3", app="accounts", severity="info"),
        ),
    )
    assert actions(doc) == [("opened", 1), ("opened", 2), ("opened", 3)]
    got = [
        (cli.json("show", str(n))["service"], cli.json("show", str(n))["level"]) for n in (1, 2, 3)
    ]
    # r2: the rule needs both labels; no "service_label" label: the default service.
    assert got == [("payments", 1), ("default", 3), ("accounts", 3)]


def test_group_dedup_makes_one_incident_per_alertmanager_group(cli, tmp_path):
    write_policy(tmp_path, extra='\n[intake.alert]\ndedup = "group"\n')
    doc = take(cli, webhook(am_alert("g1"), am_alert("g2")))
    assert actions(doc) == [("opened", 1)]
    assert actions(
        take(cli, webhook(am_alert("g1"), am_alert("g2"), am_alert("g3")), now=at(2))
    ) == [("repeat", 1)]
    details = cli.json("show", "1")["details"]
    assert "HighErrorRate on g1 [g1] (firing)" in details


def test_a_plain_json_alert_and_its_resolution(cli):
    plain = {
        "key": "disk-db1",
        "title": "Disk full on db1",
        "service": "accounts",
        "level": 2,
        "details": "97% used",
    }
    assert actions(take(cli, plain)) == [("opened", 1)]
    shown = cli.json("show", "1")
    assert (shown["title"], shown["service"], shown["level"], shown["details"]) == (
        "Disk full on db1",
        "accounts",
        2,
        "97% used",
    )
    assert shown["events"][0]["actor"] == "monitoring"
    assert actions(take(cli, {**plain, "status": "resolved"}, now=at(7))) == [("recovered", 1)]
    assert cli.json("show", "1")["recovered_at"] == at(7)


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        ("[1, 2]", "expected one JSON object"),
        ('{"title": "no key"}', "key: expected a non-empty string"),
        ('{"key": "k", "title": "t", "level": 9}', "no level 9 in the policy"),
        ('{"key": "k", "title": "t", "level": "1"}', "level: expected a whole number"),
        ('{"key": "k", "title": "t", "status": "ok"}', "expected 'firing' or 'resolved'"),
        ('{"key": "k", "title": "t", "colour": "red"}', "unknown key 'colour'"),
        ('{"version": "3", "alerts": []}', "only version 4 is read"),
        ('{"version": "4", "alerts": [{"labels": {}}]}', "alerts[0].labels"),
        ('{"version": "4", "alerts": [{"labels": {"a": 1}}]}', "alerts[0].labels.a"),
        (
            '{"version": "4", "alerts": [{"labels": {"a": "b"}, "startsAt": "yesterday"}]}',
            "alerts[0].startsAt: not an RFC 3339 time",
        ),
        # Hostile: never "unexpected".
        ('{"key": "k", "title": "t", "status": ["firing"]}', "expected 'firing' or 'resolved'"),
        (
            '{"key": "k", "title": "t", "status": ' + "[" * 1000 + "]" * 1000 + "}",
            "status: expected 'firing' or 'resolved', got a list",
        ),
        ('{"version": ' + "[" * 1000 + "]" * 1000 + ', "alerts": []}', "version a list"),
        ('{"key": "k", "title": "t", "status": "' + "x" * 100_000 + '"}', "got 'xxx"),
        (
            '{"alerts": [{"labels": {"a": "b"}, "fingerprint": "f",'
            ' "startsAt": "9999-12-31T23:59:59-05:00"}]}',
            "alerts[0].startsAt: out of range",
        ),
        (
            '{"alerts": [{"labels": {"a": ' + "[" * 1000 + "]" * 1000 + "}}]}",
            "alerts[0].labels.a: expected a string, got list",
        ),
        ('{"key": "k\\u0000", "title": "t"}', "NUL character"),
        ('{"key": "k", "title": "t", "details": "a\\u0000b"}', "NUL character"),
        ('{"key": "k", "title": "t", "level": 1e400}', "not JSON"),
    ],
)
def test_a_bad_payload_is_refused_with_exit_2_and_changes_nothing(cli, payload, said):
    take(cli, {"key": "seen", "title": "Already here"})
    before = cli.snapshot()
    out = take(cli, payload, now=at(1), expect=2)
    message = json.loads(out.stderr)["message"]
    assert said in message
    assert len(message) < 300  # (a huge value is not copied into the sentence)
    assert cli.snapshot() == before


def test_the_default_severities_keep_to_the_levels_a_policy_has(cli, tmp_path):
    text = write_policy(tmp_path).read_text().replace("[levels.3]", "[levels.5]")
    (tmp_path / "sla.toml").write_text(text)
    doc = take(cli, webhook(am_alert("i1", severity="info"), am_alert("c1")))
    assert actions(doc) == [("opened", 1), ("opened", 2)]
    assert [cli.json("show", str(n))["level"] for n in (1, 2)] == [2, 1]


def test_a_payload_half_good_changes_nothing(cli):
    good, bad = am_alert("ok1"), {"labels": {"alertname": "x"}, "status": "exploded"}
    take(cli, webhook(good, bad), expect=2)
    assert cli.json("list") == []


def test_a_payload_over_the_policys_limit_is_refused(cli, tmp_path):
    write_policy(tmp_path, extra="\n[intake.alert]\nmax_bytes = 2048\n")
    out = take(cli, webhook(*[am_alert(f"f{i}") for i in range(10)]), expect=2)
    assert "larger than 2,048 bytes" in out.stderr
    assert cli.json("list") == []


def test_an_unknown_level_in_the_intake_rules_is_a_policy_error(cli, tmp_path):
    write_policy(tmp_path, extra="\n[intake.alert.levels]\ncritical = 7\n")
    out = cli("intake", "alert", input="{}", expect=5)
    assert "intake.alert.levels.critical: no level 7 in the policy" in out.stderr


# --------------------------------------------------------------------------- storms

STORM = '\n[intake.storm]\nmax_new = 3\nwindow = "5m"\n'


@pytest.mark.storage_contract
def test_a_storm_past_max_new_is_grouped_into_one_incident_with_one_notice(cli, tmp_path):
    write_policy(tmp_path, extra=STORM)
    burst = [am_alert(f"s{i}") for i in range(10)]
    doc = take(cli, webhook(*burst))
    assert [o["action"] for o in doc["outcomes"]] == ["opened"] * 3 + ["grouped"] * 7
    assert {o["incident"] for o in doc["outcomes"][3:]} == {4}
    assert doc["counts"] == {"opened": 3, "grouped": 7}
    storm = cli.json("show", "4")
    assert storm["title"] == ("Alert storm on payments: more than 3 new incidents within 5m")
    grouped = [e["data"]["text"] for e in storm["events"] if e["kind"] == "note"]
    assert [t.splitlines()[0] for t in grouped] == [
        f"Grouped (alert): HighErrorRate on s{i} [s{i}]" for i in range(3, 10)
    ]
    assert "5xx above 5% for 5 minutes" in grouped[0]  # its details are kept, cut short
    assert "instance=s3.example:9100" in grouped[0]
    # Another service is not in the storm.
    assert actions(take(cli, webhook(am_alert("w1", service="web")), now=at(1))) == [("opened", 5)]
    sent = json.loads(cli("escalate", "--json", now=at(2)).stdout)
    initial = {d["incident"] for d in sent["deliveries"] if d["notice"] == "initial"}
    assert initial == {1, 2, 3, 4, 5}  # one page for the storm, not seven


def test_a_grouped_alert_repeats_and_resolves_on_the_storm_incident(cli, tmp_path):
    write_policy(tmp_path, extra=STORM)
    take(cli, webhook(*[am_alert(f"s{i}") for i in range(5)]))
    assert actions(take(cli, webhook(am_alert("s4")), now=at(1))) == [("repeat", 4)]
    resolved = am_alert("s4", status="resolved", ends=at(1))
    assert actions(take(cli, webhook(resolved), now=at(2))) == [("noted", 4)]
    assert cli.json("show", "4")["status"] == "open"  # the storm is not over for one alert


def test_one_grouped_alerts_resolution_does_not_recover_the_storm(cli, tmp_path):
    write_policy(tmp_path, extra=STORM)
    for i in range(5):  # plain alerts: their resolutions carry neither service nor level
        take(cli, {"key": f"p{i}", "title": f"Pod {i} down", "service": "pay", "level": 2})
    resolved = {"key": "p4", "title": "Pod 4 down", "status": "resolved"}
    assert actions(take(cli, resolved, now=at(1))) == [("noted", 4)]
    assert cli.json("show", "4")["status"] == "open"


def test_after_the_window_alerts_open_their_own_incidents_again(cli, tmp_path):
    write_policy(tmp_path, extra=STORM)
    take(cli, webhook(*[am_alert(f"s{i}") for i in range(5)]))
    assert actions(take(cli, webhook(am_alert("late")), now=at(6))) == [("opened", 5)]


def test_a_more_severe_alert_in_a_storm_gets_its_own_storm_incident(cli, tmp_path):
    write_policy(tmp_path, extra=STORM)
    take(cli, webhook(*[am_alert(f"w{i}", severity="warning") for i in range(4)]))
    doc = take(cli, webhook(am_alert("c1", severity="critical")), now=at(1))
    assert actions(doc) == [("grouped", 5)]
    assert cli.json("show", "5")["level"] == 1
    assert cli.json("show", "4")["level"] == 2


def test_storm_control_can_be_turned_off(cli, tmp_path):
    write_policy(tmp_path, extra=STORM + "enabled = false\n")
    doc = take(cli, webhook(*[am_alert(f"s{i}") for i in range(6)]))
    assert doc["counts"] == {"opened": 6}


def test_a_group_of_mixed_severities_takes_its_most_severe_alerts_level(cli, tmp_path):
    # As Alertmanager 0.25 sends it: severity differs, so it is not a common label.
    write_policy(tmp_path, extra='\n[intake.alert]\ndedup = "group"\n')
    payload = json.loads(
        webhook(am_alert("d1", severity="warning"), am_alert("d2", severity="critical"))
    )
    payload["commonLabels"] = {"alertname": "HighErrorRate"}
    assert actions(take(cli, payload)) == [("opened", 1)]
    shown = cli.json("show", "1")
    assert (shown["level"], shown["service"]) == (1, "payments")


def test_a_storms_progress_notice_lists_the_latest_notes_not_hundreds(cli, tmp_path):
    from test_notify_transports import http_running

    with http_running() as hook:
        write_policy(tmp_path, {"email": {"type": "webhook", "url": hook.url("/mail")}}, STORM)
        take(cli, webhook(*[am_alert(f"s{i}") for i in range(4)]))  # the storm begins
        take(cli, webhook(*[am_alert(f"s{i}") for i in range(4, 60)]), now=at(1))
        cli("escalate", now=at(1))
        cli("escalate", now=at(61))
        progress = [
            b["text"]
            for b in hook.bodies("/mail")
            if "progress" in b["notice"] and b["incident"] == 4
        ]
    assert progress, [(b["notice"], b["incident"]) for b in hook.bodies()]
    email = progress[0]
    assert "- … 36 earlier notes: incidentctl show 4" in email
    assert email.count("Grouped (alert)") == 20
    assert "HighErrorRate on s59 [s59]" in email  # the latest is there
