"""The real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) posting to
``incidentctl serve``: an alert becomes exactly one incident whose notice goes out, its
repeat adds none, its resolution recovers it. All on loopback, every wait bounded."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from serving import TOKEN, serving
from test_escalate import write_policy
from test_notify_transports import free_port, http_running

pytestmark = pytest.mark.slow

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def am_config(receiver_url: str) -> str:
    """What docs/intake.md gives, with the test's waits shortened."""
    return f"""
route:
  receiver: incidentctl
  group_by: ['alertname', 'service']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incidentctl
    webhook_configs:
      - url: {receiver_url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""


class Alertmanager:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def alertmanager_running(tmp_path: Path, receiver_url: str) -> Iterator[Alertmanager]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(am_config(receiver_url))
    port = free_port()
    assert BINARY is not None
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no clustering: nothing listens beyond loopback
            "--log.level=warn",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    manager = Alertmanager(process, port)
    wait_until(lambda: _ready(port) or process.poll() is not None, "Alertmanager to start")
    assert process.poll() is None, process.stdout and process.stdout.read().decode()
    try:
        yield manager
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        process.stdout and process.stdout.close()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def alert(starts: datetime, ends: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {
            "alertname": "CheckoutErrors",
            "service": "payments",
            "severity": "critical",
            "instance": "pay-1:9100",
        },
        "annotations": {"summary": "Checkout 5xx above 5%", "description": "for 5 minutes"},
        "startsAt": starts.isoformat(),
        "generatorURL": "http://127.0.0.1:9090/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


@pytest.mark.skipif(
    BINARY is None,
    reason="prometheus-alertmanager is not installed (.ci/run installs Debian's package)",
)
def test_an_alert_fired_at_alertmanager_becomes_one_incident_with_its_notice(cli, tmp_path):
    with http_running() as pager:
        write_policy(tmp_path, {"sms": {"type": "webhook", "url": pager.url("/sms")}})
        with serving(cli.db, tmp_path) as served:
            manager_context = alertmanager_running(tmp_path, served.url("/intake/alert"))
            manager = next(manager_context)
            try:
                started = datetime.now(UTC) - timedelta(minutes=2)
                manager.post_alerts([alert(started)])
                incidents = wait_until(lambda: cli.json("list"), "the incident")
                assert len(incidents) == 1
                incident = incidents[0]
                assert (incident["title"], incident["service"], incident["level"]) == (
                    "Checkout 5xx above 5%",
                    "payments",
                    1,
                )
                cli("escalate")
                initial = [b for b in pager.bodies("/sms") if b["notice"] == "initial"]
                assert {b["incident"] for b in initial} == {incident["id"]}
                assert initial[0]["to"] == "+8613800000001"  # payments' owner, chen.jie

                # The same alert again: Alertmanager's group already has it; a new
                # alert into the group makes it send the group again (a repeat for ours).
                manager.post_alerts([alert(started)])
                other = alert(started)
                other["labels"] = {**other["labels"], "instance": "pay-2:9100"}
                manager.post_alerts([other])
                wait_until(lambda: len(cli.json("list")) == 2, "the second instance's incident")
                time.sleep(3)  # (a few group intervals: nothing more may arrive)
                assert len(cli.json("list")) == 2
                before = len(pager.requests)
                cli("escalate")
                new = [b for b in pager.bodies("/sms")[before:] if b["notice"] == "initial"]
                assert {b["incident"] for b in new} == {incidents[0]["id"] + 1}

                # Resolved: endsAt in the past.
                manager.post_alerts([alert(started, ends=datetime.now(UTC) - timedelta(seconds=5))])
                recovered = wait_until(
                    lambda: cli.json("show", str(incident["id"]))["status"] == "recovered",
                    "the recovery",
                )
                assert recovered
                shown = cli.json("show", str(incident["id"]))
                assert [e["actor"] for e in shown["events"]][:1] == ["alertmanager"]
                assert len(cli.json("list", "--status", "recovered", "--status", "open")) == 2
            finally:
                manager_context.close()
