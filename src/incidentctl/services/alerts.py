"""A monitoring payload read into ``Arrival``s: Prometheus Alertmanager's webhook
(version 4), or one plain JSON object ``{"key", "title", "service", "level", "status",
"details"}``.

An alert's dedup key is its fingerprint (``[intake.alert] dedup = "alert"``) or its
Alertmanager group's ``groupKey`` (``"group"``); its service and level come from the
first ``[[intake.alert.rules]]`` whose labels match, else from its labels, else from
the defaults. Nothing here writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from incidentctl.config import AlertIntake, Policy
from incidentctl.domain import AlertStatus, IntakeSource
from incidentctl.errors import InvalidInput
from incidentctl.services.arrival import Arrival, stored_text, title_of


def parse_alerts(data: bytes, policy: Policy, *, now: datetime) -> list[Arrival]:
    """The arrivals of one payload; ``InvalidInput`` (exit 2) for what is not one."""
    rules = policy.intake.alert
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidInput("expected one JSON object (an Alertmanager webhook or an alert)")
    if "alerts" in payload:
        return _alertmanager(payload, rules, policy, now)
    return [_plain(payload, rules, policy, now)]


def _alertmanager(
    payload: dict[str, Any], rules: AlertIntake, policy: Policy, now: datetime
) -> list[Arrival]:
    version = payload.get("version")
    if version is not None and not (isinstance(version, str | int) and str(version) == "4"):
        raise InvalidInput(
            f"Alertmanager webhook version {_shown(version)}: only version 4 is read"
        )
    alerts = payload["alerts"]
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        raise InvalidInput("alerts: expected a list of objects")
    parsed = [_am_alert(a, i, rules, policy, now) for i, a in enumerate(alerts)]
    if rules.dedup == "alert":
        return parsed
    group_key = _text(payload.get("groupKey"), "groupKey", required=True)
    status = _status(payload.get("status", AlertStatus.FIRING), "status")
    common = _labels(payload.get("commonLabels", {}), "commonLabels")
    annotations = _labels(payload.get("commonAnnotations", {}), "commonAnnotations")
    service, level = _route(rules, policy, common)
    # The group's labels are only those its alerts share: its alerts' own routes say
    # more (the most severe of them pages, whatever the others' severity).
    if parsed:
        level = min(a.level for a in parsed)
        if rules.service_label not in common:
            service = parsed[0].service
    listed = "\n".join(
        f"- {a.summary} ({AlertStatus.FIRING if a.firing else AlertStatus.RESOLVED})"
        for a in parsed
    )
    return [
        Arrival(
            key=f"alert:group:{group_key}",
            source=IntakeSource.ALERT,
            title=_title(annotations, common) or title_of(f"Alert group {group_key}"),
            service=service,
            level=level,
            summary=f"group {title_of(group_key)}: {len(parsed)} alerts",
            details=f"{_label_lines(common)}\n\nAlerts:\n{listed}".strip(),
            firing=status == AlertStatus.FIRING,
            occurred_at=min((a.occurred_at for a in parsed if a.occurred_at), default=None),
            ended_at=max((a.ended_at for a in parsed if a.ended_at), default=None),
            actor="alertmanager",
        )
    ]


def _am_alert(
    alert: dict[str, Any], i: int, rules: AlertIntake, policy: Policy, now: datetime
) -> Arrival:
    where = f"alerts[{i}]"
    labels = _labels(alert.get("labels"), f"{where}.labels", required=True)
    annotations = _labels(alert.get("annotations", {}), f"{where}.annotations")
    status = _status(alert.get("status", AlertStatus.FIRING), f"{where}.status")
    fingerprint = alert.get("fingerprint")
    if fingerprint is None:  # (Alertmanager before 0.19): the labels name the alert
        fingerprint = hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()
    fingerprint = _text(fingerprint, f"{where}.fingerprint", required=True)
    service, level = _route(rules, policy, labels)
    title = _title(annotations, labels) or title_of(f"Alert {fingerprint}")
    details = [annotations.get("description", ""), _label_lines(labels)]
    url = alert.get("generatorURL")
    if isinstance(url, str) and url:
        details.append(f"Source: {stored_text(url, f'{where}.generatorURL')}")
    starts = _time(alert.get("startsAt"), f"{where}.startsAt", now)
    ends = _time(alert.get("endsAt"), f"{where}.endsAt", now)
    return Arrival(
        key=f"alert:{fingerprint}",
        source=IntakeSource.ALERT,
        title=title,
        service=service,
        level=level,
        summary=f"{title} [{title_of(fingerprint)}]",
        details="\n\n".join(d for d in details if d) or None,
        firing=status == AlertStatus.FIRING,
        occurred_at=starts,
        ended_at=ends if status == AlertStatus.RESOLVED else None,
        actor="alertmanager",
    )


def _plain(payload: dict[str, Any], rules: AlertIntake, policy: Policy, now: datetime) -> Arrival:
    known = {"key", "title", "service", "level", "status", "details", "labels"}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}: an alert has {', '.join(sorted(known))}")
    key = _text(payload.get("key"), "key", required=True)
    title = title_of(_text(payload.get("title"), "title", required=True))
    labels = _labels(payload.get("labels", {}), "labels")
    service, level = _route(rules, policy, labels)
    if payload.get("service") is not None:
        service = title_of(_text(payload["service"], "service", required=True))
    if payload.get("level") is not None:
        level = payload["level"]
        if isinstance(level, bool) or not isinstance(level, int):
            raise InvalidInput(f"level: expected a whole number, got {type(level).__name__}")
        policy.level(level)
    details = payload.get("details")
    if details is not None:
        details = _text(details, "details")
    status = _status(payload.get("status", AlertStatus.FIRING), "status")
    return Arrival(
        key=f"alert:key:{key}",
        source=IntakeSource.ALERT,
        title=title,
        service=service,
        level=level,
        summary=f"{title} [{title_of(key)}]",
        details=details or None,
        firing=status == AlertStatus.FIRING,
        ended_at=now if status == AlertStatus.RESOLVED else None,
        actor="monitoring",
    )


def _route(rules: AlertIntake, policy: Policy, labels: Mapping[str, str]) -> tuple[str, int]:
    service = labels.get(rules.service_label) or rules.service
    level = policy.severity_levels().get(
        labels.get(rules.level_label, "").lower(), policy.intake_level(rules.level)
    )
    for rule in rules.rules:
        if all(labels.get(name) == value for name, value in rule.match.items()):
            service = rule.service or service
            level = rule.level or level
            break
    return title_of(service) or rules.service, level


def _title(annotations: Mapping[str, str], labels: Mapping[str, str]) -> str:
    said = annotations.get("summary") or annotations.get("title")
    if not said and labels.get("alertname"):
        instance = labels.get("instance")
        said = labels["alertname"] + (f" on {instance}" if instance else "")
    return title_of(said or "")


def _label_lines(labels: Mapping[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in sorted(labels.items()))


def _labels(value: Any, where: str, *, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise InvalidInput(f"{where}: expected an object of names and string values")
    for name, text in value.items():
        if not isinstance(text, str):
            raise InvalidInput(
                f"{where}.{title_of(name)[:40]}: expected a string, got {type(text).__name__}"
            )
        stored_text(name, where)
        stored_text(text, f"{where}.{name}")
    return value


def _shown(value: Any) -> str:
    """A refused value in a sentence: a string's start, else its JSON type's name (a
    payload's value may be megabytes long, or nested a thousand deep)."""
    if isinstance(value, str):
        return repr(value[:60])
    return {dict: "an object", list: "a list", bool: "true or false", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _text(value: Any, where: str, *, required: bool = False) -> str:
    # (required: something to show once on one line, not only spaces and controls)
    if not isinstance(value, str) or (required and not title_of(value)):
        raise InvalidInput(f"{where}: expected a non-empty string")
    return stored_text(value, where)


def _status(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in set(AlertStatus):
        raise InvalidInput(f"{where}: expected 'firing' or 'resolved', got {_shown(value)}")
    return str(value)


def _time(value: Any, where: str, now: datetime) -> datetime | None:
    """An Alertmanager time; None for its "not set" (year 1) or a missing one. Never
    after ``now`` (a monitoring clock ahead of ours)."""
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(_text(value, where))
    except ValueError:
        raise InvalidInput(f"{where}: not an RFC 3339 time: {_shown(value)}") from None
    if when.tzinfo is None:
        raise InvalidInput(f"{where}: the time has no offset: {_shown(value)}")
    if when.year <= 1:
        return None
    try:
        return min(when.astimezone(UTC), now)
    except OverflowError:  # (year 9999 with a negative offset)
        raise InvalidInput(f"{where}: out of range: {_shown(value)}") from None
