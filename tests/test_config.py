"""The policy file: the shipped default, the lookup order and the error messages."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from incidentctl.config import (
    BUILTIN_SOURCE,
    CommandTransport,
    Level,
    LoadedPolicy,
    Policy,
    PrintTransport,
    SmtpTransport,
    WebhookTransport,
    builtin_policy,
    load_policy,
    parse_policy,
    policy_as_dict,
    recipient_problems,
)
from incidentctl.errors import ConfigError, ExitStatus, InvalidInput

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "incidentctl" / "sla.toml"

MINIMAL = """\
[levels.1]
name = "Major"
response = "10m"
recovery = "2h"
resolution = "7d"

[roles]
om_team = "om-team"
rd_leader = "li.wei"

[services.default]
owner = "duty-officer"
"""


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def write(directory: Path, text: str, name: str = "sla.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(text: str, source: str = "sla.toml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, source)
    assert info.value.exit_status == ExitStatus.CONFIG
    return info.value.message


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, object]:
    """Lookup arguments that see no user files: empty cwd and an empty config dir."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return {"environ": {"INCIDENTCTL_CONFIG_DIR": str(tmp_path / "userdir")}, "cwd": cwd}


# --------------------------------------------------------------------------- shipped file


def test_shipped_policy_matches_the_seed_table() -> None:
    policy = builtin_policy()
    assert policy.relevel == "keep-start"
    assert policy.levels == {
        1: Level(
            name="Major",
            response=minutes(10),
            recovery=timedelta(hours=2),
            resolution=timedelta(days=7),
            notify=True,
            approval=True,
        ),
        2: Level(
            name="Minor",
            response=minutes(30),
            recovery=timedelta(hours=6),
            resolution=timedelta(days=20),
            notify=True,
            approval=False,
        ),
        3: Level(
            name="No impact",
            response=minutes(60),
            recovery=timedelta(hours=24),
            resolution=timedelta(days=60),
            notify=False,
            approval=False,
        ),
    }


def test_shipped_policy_matches_the_seed_notification_matrix() -> None:
    n = builtin_policy().notifications
    assert n.initial.within == minutes(30)
    assert (n.initial.sms, n.initial.email.to, n.initial.email.cc, n.initial.phone) == (
        ["service_owner"],
        ["service_owner"],
        ["om_team"],
        ["rd_leader"],
    )
    assert n.progress.every == timedelta(hours=1)
    assert (n.progress.sms, n.progress.email.to, n.progress.email.cc, n.progress.phone) == (
        ["service_owner"],
        ["service_owner"],
        ["om_team"],
        [],
    )
    r = n.rectification
    assert (r.sms, r.email.to, r.email.cc, r.phone) == (
        ["service_owner"],
        ["service_owner"],
        ["om_team"],
        [],
    )
    o = n.overdue
    assert (o.sms, o.email.to, o.email.cc, o.phone) == (
        ["service_owner"],
        ["service_owner"],
        ["om_team", "rd_leader"],
        ["rd_leader"],
    )
    for notice in ("overdue-response", "overdue-recovery", "overdue-resolution"):
        assert n.rule(notice) is o


def test_shipped_policy_roles_services_contacts_and_no_transports() -> None:
    policy = builtin_policy()
    assert policy.roles.om_team == "om-team"
    assert policy.roles.rd_leader == "li.wei"
    assert policy.roles.incident_managers == ["zhang.min"]
    assert policy.owner_of("payments") == "chen.jie"
    assert policy.owner_of("no-such-service") == "duty-officer"
    assert policy.transports == {}  # every channel is printed by default
    assert policy.contacts["chen.jie"].email == "chen.jie@example.com"
    assert policy.contacts["chen.jie"].phone == "+8613800000001"
    assert (
        policy.retry.first,
        policy.retry.factor,
        policy.retry.max_delay,
        policy.retry.max_attempts,
    ) == (minutes(1), 2, minutes(30), 10)


def test_shipped_policy_every_recipient_has_every_address() -> None:
    policy = builtin_policy()
    assert recipient_problems(policy) == []
    names = {s.owner for s in policy.services.values()}
    names |= {policy.roles.om_team, policy.roles.rd_leader, *policy.roles.incident_managers}
    for name in names:
        contact = policy.contacts[name]
        assert contact.email and contact.email.endswith("@example.com"), name
        assert contact.phone and contact.phone.startswith("+86"), name


def test_shipped_file_and_builtin_are_identical() -> None:
    assert parse_policy(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED)) == builtin_policy()


def test_shipped_file_commented_transport_examples_are_valid() -> None:
    """Uncommenting the examples in the shipped file gives a valid policy."""
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    uncommented = []
    in_example = False
    for line in lines:
        if line.startswith("# [transports."):
            in_example = True
        elif in_example and not line.startswith("# "):
            in_example = False
        uncommented.append(line[2:] if in_example else line)
    policy = parse_policy("\n".join(uncommented), "example")
    assert isinstance(policy.transports["email"], SmtpTransport)
    assert policy.transports["email"].password_env == "INCIDENTCTL_SMTP_PASSWORD"
    assert policy.transports["email"].from_ == "incidentctl@example.com"
    assert isinstance(policy.transports["sms"], WebhookTransport)
    assert policy.transports["sms"].headers_env == {"Authorization": "INCIDENTCTL_SMS_AUTH"}
    assert isinstance(policy.transports["phone"], CommandTransport)
    assert policy.transports["phone"].timeout == timedelta(seconds=30)


def test_builtin_is_parsed_once() -> None:
    assert builtin_policy() is builtin_policy()


def test_policy_level_lookup() -> None:
    policy = builtin_policy()
    assert policy.level(2).name == "Minor"
    with pytest.raises(InvalidInput) as info:
        policy.level(4)
    assert info.value.message == "no level 4 in the policy (levels: 1, 2, 3)"


# --------------------------------------------------------------------------- lookup order


def test_lookup_falls_back_to_builtin(isolated: dict) -> None:
    loaded = load_policy(None, **isolated)
    assert loaded == LoadedPolicy(builtin_policy(), BUILTIN_SOURCE)


def test_lookup_user_config_dir_beats_builtin(isolated: dict, tmp_path: Path) -> None:
    user = write(tmp_path / "userdir", MINIMAL.replace("duty-officer", "from-userdir"))
    loaded = load_policy(None, **isolated)
    assert loaded.source == str(user)
    assert loaded.policy.owner_of("x") == "from-userdir"


def test_lookup_user_config_dir_defaults_to_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_path", lambda app: tmp_path / "pd" / app)
    user = write(tmp_path / "pd" / "incidentctl", MINIMAL.replace("duty-officer", "pd-owner"))
    loaded = load_policy(None, environ={}, cwd=tmp_path)
    assert loaded.source == str(user)
    assert loaded.policy.owner_of("x") == "pd-owner"


def test_lookup_cwd_beats_user_config_dir(isolated: dict, tmp_path: Path) -> None:
    write(tmp_path / "userdir", MINIMAL.replace("duty-officer", "from-userdir"))
    local = write(isolated["cwd"], MINIMAL.replace("duty-officer", "from-cwd"))
    loaded = load_policy(None, **isolated)
    assert loaded.source == str(local)
    assert loaded.policy.owner_of("x") == "from-cwd"


def test_lookup_cwd_defaults_to_process_cwd(
    isolated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(isolated["cwd"], MINIMAL.replace("duty-officer", "from-cwd"))
    monkeypatch.chdir(isolated["cwd"])
    loaded = load_policy(None, environ=isolated["environ"])
    assert loaded.source == "sla.toml"
    assert loaded.policy.owner_of("x") == "from-cwd"


def test_lookup_environment_variable_beats_cwd(isolated: dict, tmp_path: Path) -> None:
    write(isolated["cwd"], MINIMAL.replace("duty-officer", "from-cwd"))
    env_file = write(tmp_path / "env", MINIMAL.replace("duty-officer", "from-env"))
    environ = {**isolated["environ"], "INCIDENTCTL_CONFIG": str(env_file)}
    loaded = load_policy(None, environ=environ, cwd=isolated["cwd"])
    assert loaded.source == str(env_file)
    assert loaded.policy.owner_of("x") == "from-env"


def test_lookup_explicit_path_beats_everything(isolated: dict, tmp_path: Path) -> None:
    write(isolated["cwd"], MINIMAL.replace("duty-officer", "from-cwd"))
    env_file = write(tmp_path / "env", MINIMAL.replace("duty-officer", "from-env"))
    explicit = write(tmp_path / "explicit", MINIMAL.replace("duty-officer", "from-option"))
    environ = {**isolated["environ"], "INCIDENTCTL_CONFIG": str(env_file)}
    loaded = load_policy(explicit, environ=environ, cwd=isolated["cwd"])
    assert loaded.source == str(explicit)
    assert loaded.policy.owner_of("x") == "from-option"


def test_explicit_path_that_does_not_exist_is_an_error(isolated: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_policy(missing, **isolated)
    assert info.value.message == f"{missing}: no such file (given with --config)"


def test_environment_path_that_does_not_exist_is_an_error(isolated: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    environ = {**isolated["environ"], "INCIDENTCTL_CONFIG": str(missing)}
    with pytest.raises(ConfigError, match="INCIDENTCTL_CONFIG") as info:
        load_policy(None, environ=environ, cwd=isolated["cwd"])
    assert str(missing) in info.value.message


def test_invalid_file_found_by_lookup_is_an_error_not_skipped(
    isolated: dict, tmp_path: Path
) -> None:
    local = write(isolated["cwd"], "relevel = 'sometimes'\n" + MINIMAL)
    with pytest.raises(ConfigError, match="relevel") as info:
        load_policy(None, **isolated)
    assert info.value.message.startswith(f"{local}: relevel:")


def test_config_path_that_is_a_directory(isolated: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_policy(tmp_path, **isolated)


# --------------------------------------------------------------------------- errors


def test_error_bad_duration_names_file_and_key() -> None:
    text = MINIMAL.replace('response = "10m"', 'response = "10 min"')
    assert config_error(text, "/etc/x/sla.toml") == (
        "/etc/x/sla.toml: levels.1.response: "
        "invalid duration '10 min': use forms like 30m, 2h, 7d, 1h30m"
    )


def test_error_duration_given_as_number() -> None:
    text = MINIMAL.replace('response = "10m"', "response = 10")
    assert config_error(text).startswith("sla.toml: levels.1.response: expected a duration")


def test_error_unknown_key_names_file_and_key() -> None:
    text = MINIMAL.replace('response = "10m"', 'response = "10m"\nnotfy = true')
    assert config_error(text) == "sla.toml: levels.1.notfy: unknown key (check the spelling)"


def test_error_unknown_top_level_table() -> None:
    assert config_error(MINIMAL + "\n[notification.initial]\nwithin = '30m'\n") == (
        "sla.toml: notification: unknown key (check the spelling)"
    )


def test_error_bad_relevel_value() -> None:
    message = config_error('relevel = "restrat"\n' + MINIMAL)
    assert message == (
        "sla.toml: relevel: input should be 'keep-start' or 'restart' (got 'restrat')"
    )


def test_error_missing_services_default() -> None:
    text = MINIMAL.replace("[services.default]", "[services.payments]")
    message = config_error(text)
    assert message.startswith("sla.toml: services: ")
    assert "services.default" in message


@pytest.mark.parametrize("key", ["0", "one", "-1"])
def test_error_level_keys_must_be_whole_numbers(key: str) -> None:
    message = config_error(MINIMAL.replace("[levels.1]", f'[levels."{key}"]'))
    assert message.startswith("sla.toml: levels: ")
    assert f"'{key}'" in message


def test_error_no_levels() -> None:
    text = "levels = {}\n" + MINIMAL.split("[roles]")[1].join(["[roles]", ""])
    assert config_error(text) == "sla.toml: levels: at least one level is required"


def test_error_missing_required_key() -> None:
    text = MINIMAL.replace('rd_leader = "li.wei"\n', "")
    assert config_error(text) == "sla.toml: roles.rd_leader: required key is missing"


def test_error_literal_password_refused() -> None:
    text = MINIMAL + (
        '\n[transports.email]\ntype = "smtp"\nhost = "mail"\nfrom = "a@b.c"\npassword = "hunter2"\n'
    )
    message = config_error(text)
    assert message.startswith("sla.toml: transports.email.password: ")
    assert "environment variable" in message and "password_env" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("key", ["token", "api_token", "secret", "client_secret"])
def test_error_other_literal_secrets_refused(key: str) -> None:
    text = MINIMAL + f'\n[transports.sms]\ntype = "webhook"\nurl = "http://x/"\n{key} = "s3"\n'
    message = config_error(text)
    assert message.startswith(f"sla.toml: transports.sms.{key}: ")
    assert "environment variable" in message


def test_error_literal_authorization_header_refused() -> None:
    text = MINIMAL + (
        '\n[transports.sms]\ntype = "webhook"\nurl = "http://x/"\n'
        'headers = { Authorization = "Bearer abc" }\n'
    )
    message = config_error(text)
    assert message.startswith("sla.toml: transports.sms.headers.Authorization: ")
    assert "headers_env" in message


def test_password_env_and_headers_env_are_accepted() -> None:
    text = MINIMAL + (
        '\n[transports.email]\ntype = "smtp"\nhost = "mail"\nfrom = "a@b.c"\n'
        'password_env = "SMTP_PW"\n'
        '\n[transports.sms]\ntype = "webhook"\nurl = "https://x/"\n'
        'headers = { "Content-Type" = "application/json" }\n'
        'headers_env = { Authorization = "SMS_AUTH" }\n'
        '\n[transports.phone]\ntype = "print"\n'
    )
    policy = parse_policy(text, "sla.toml")
    assert policy.transports["email"].password_env == "SMTP_PW"
    assert policy.transports["email"].port == 25
    assert policy.transports["email"].timeout == timedelta(seconds=10)
    assert policy.transports["sms"].headers_env == {"Authorization": "SMS_AUTH"}
    assert isinstance(policy.transports["phone"], PrintTransport)


def test_error_password_in_webhook_url() -> None:
    text = MINIMAL + '\n[transports.sms]\ntype = "webhook"\nurl = "https://u:pw@x/"\n'
    assert config_error(text).startswith("sla.toml: transports.sms.url: ")


def test_error_unknown_transport_type_and_channel() -> None:
    message = config_error(MINIMAL + '\n[transports.email]\ntype = "pigeon"\n')
    assert message.startswith("sla.toml: transports.email: ")
    assert "'smtp'" in message
    message = config_error(MINIMAL + '\n[transports.fax]\ntype = "print"\n')
    assert message.startswith("sla.toml: transports.fax: ")


def test_error_transport_field_location_omits_union_tag() -> None:
    text = MINIMAL + '\n[transports.email]\ntype = "smtp"\nhost = "mail"\nfrom = "a@b.c"\n'
    message = config_error(text.replace('host = "mail"', 'host = "mail"\nport = 99999'))
    assert message.startswith("sla.toml: transports.email.port: ")
    message = config_error(text + 'security = "tls"\n')
    assert message.startswith("sla.toml: transports.email.security: ")


def test_error_command_transport_needs_argv() -> None:
    text = MINIMAL + '\n[transports.phone]\ntype = "command"\nargv = []\n'
    assert config_error(text).startswith("sla.toml: transports.phone.argv: ")


def test_error_progress_recipients_need_an_interval() -> None:
    text = MINIMAL + '\n[notifications.progress]\nsms = ["service_owner"]\n'
    assert config_error(text).startswith("sla.toml: notifications.progress.every: required")


def test_error_toml_syntax_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'relevel = "keep-start"\n\n[levels.1]\nname "Major"\n')
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.message.startswith(f"{path}: line 4, column 6: ")


def test_several_errors_are_reported_on_several_lines() -> None:
    text = 'relevel = "sometimes"\n' + MINIMAL.replace('"10m"', '"ten"').replace(
        "[services.default]", "[services.x]"
    )
    lines = config_error(text).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("sla.toml: ") for line in lines)
    assert {line.split(": ")[1] for line in lines} == {"relevel", "levels.1.response", "services"}


def test_minimal_policy_gets_defaults() -> None:
    policy = parse_policy(MINIMAL, "sla.toml")
    assert policy.relevel == "keep-start"
    assert policy.retry.max_attempts == 10
    assert policy.transports == {}
    assert policy.level(1).notify is False
    assert recipient_problems(policy) == []  # nothing notifies, nothing to resolve


def test_recipient_problems_reports_missing_addresses() -> None:
    text = MINIMAL.replace('response = "10m"', 'response = "10m"\nnotify = true') + (
        '\n[notifications.initial]\nemail = { to = ["service_owner"] }\nphone = ["rd_leader"]\n'
        '\n[contacts."duty-officer"]\nphone = "+8613800000002"\n'
    )
    problems = recipient_problems(parse_policy(text, "sla.toml"))
    assert problems == [
        "notifications.initial.email: 'duty-officer' (service_owner): contact has no email",
        "notifications.initial.phone: 'li.wei' (rd_leader): no such contact",
    ]


def test_models_are_frozen() -> None:
    policy = builtin_policy()
    with pytest.raises(ValueError):
        policy.relevel = "restart"  # type: ignore[misc]


# --------------------------------------------------------------------------- policy show


def test_policy_as_dict_is_json_and_uses_file_notation() -> None:
    data = policy_as_dict(builtin_policy())
    assert json.loads(json.dumps(data)) == data
    assert data["levels"]["1"]["response"] == "10m"
    assert data["levels"]["3"]["recovery"] == "1d"
    assert data["notifications"]["progress"]["every"] == "1h"
    assert data["retry"]["max_delay"] == "30m"
    assert data["services"]["payments"] == {
        "owner": "chen.jie", "om_team": None, "rd_leader": None, "dev_team": None,
    }  # fmt: skip


def test_policy_as_dict_masks_secret_headers_and_keeps_env_names() -> None:
    policy = Policy.model_validate(
        {
            "levels": {1: {"name": "M", "response": "1m", "recovery": "1h", "resolution": "1d"}},
            "roles": {"om_team": "om", "rd_leader": "rd"},
            "services": {"default": {"owner": "o"}},
            "transports": {
                "email": {"type": "smtp", "host": "h", "from": "a@b.c", "password_env": "PW"},
                "sms": {
                    "type": "webhook",
                    "url": "https://x/",
                    "headers": {
                        "Authorization": "Bearer abc",
                        "X-Api-Token": "t0k",
                        "Content-Type": "application/json",
                    },
                    "headers_env": {"X-Signature": "SIG_VAR"},
                },
            },
        }
    )
    data = policy_as_dict(policy)
    text = json.dumps(data)
    assert "Bearer abc" not in text and "t0k" not in text
    assert data["transports"]["sms"]["headers"] == {
        "Authorization": "***",
        "X-Api-Token": "***",
        "Content-Type": "application/json",
    }
    assert data["transports"]["sms"]["headers_env"] == {"X-Signature": "SIG_VAR"}
    assert data["transports"]["email"]["password_env"] == "PW"
    assert data["transports"]["email"]["from"] == "a@b.c"
    assert data["transports"]["email"]["timeout"] == "10s"
