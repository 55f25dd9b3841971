"""Configuration: every variable read, validated, and named when wrong."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from chalicelib.domain.config import ConfigError, Settings
from chalicelib.domain.policy import DEFAULT_OPEN_PORTS, Mode, PortRange

TOPIC = "arn:aws:sns:eu-west-1:111122223333:sg-sentry-alerts"


def test_defaults_guard_nothing_in_lockdown() -> None:
    settings = Settings.from_env({})
    assert not settings.scope.guards_anything
    assert settings.policy.mode is Mode.LOCKDOWN
    assert settings.policy.open_ports == DEFAULT_OPEN_PORTS
    assert (settings.dry_run, settings.topic_arn) == (False, None)


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "SENTRY_GROUP_IDS": " sg-0abc1234 , sg-0123456789abcdef0,",
            "SENTRY_GROUP_TAG": "sg-sentry=guard",
            "SENTRY_MODE": "Internet",
            "SENTRY_OPEN_PORTS": "443, 8000-8080",
            "SENTRY_TRUSTED_CIDRS": "198.51.100.0/24,2001:db8::/32",
            "SENTRY_EXEMPT_PRINCIPALS": "arn:aws:iam::*:role/terraform-*",
            "SENTRY_DRY_RUN": "true",
            "SENTRY_TOPIC_ARN": TOPIC,
        }
    )
    assert settings.scope.group_ids == {"sg-0abc1234", "sg-0123456789abcdef0"}
    assert (settings.scope.tag_key, settings.scope.tag_value) == ("sg-sentry", "guard")
    assert settings.policy.mode is Mode.INTERNET
    assert settings.policy.open_ports == (PortRange(443, 443), PortRange(8000, 8080))
    assert settings.policy.trusted_networks == (ip_network("198.51.100.0/24"), ip_network("2001:db8::/32"))
    assert settings.policy.exempt_principals == ("arn:aws:iam::*:role/terraform-*",)
    assert (settings.dry_run, settings.topic_arn) == (True, TOPIC)


def test_star_guards_every_group_and_a_bare_tag_key_matches_any_value() -> None:
    settings = Settings.from_env({"SENTRY_GROUP_IDS": "*", "SENTRY_GROUP_TAG": "guarded"})
    assert settings.scope.all_groups and settings.scope.group_ids == frozenset()
    assert (settings.scope.tag_key, settings.scope.tag_value) == ("guarded", None)


def test_none_closes_every_port() -> None:
    assert Settings.from_env({"SENTRY_OPEN_PORTS": "none"}).policy.open_ports == ()


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("SENTRY_GROUP_IDS", "sg-12,web-prod", "not security group IDs"),
        ("SENTRY_GROUP_IDS", "*,sg-0abc1234", "not both"),
        ("SENTRY_GROUP_TAG", "=prod", "key=value"),
        ("SENTRY_GROUP_TAG", "env=", "empty value"),
        ("SENTRY_MODE", "paranoid", "lockdown, internet"),
        ("SENTRY_OPEN_PORTS", "https", "not a port"),
        ("SENTRY_OPEN_PORTS", "70000", "outside 0-65535"),
        ("SENTRY_OPEN_PORTS", "90-80", "reversed"),
        ("SENTRY_TRUSTED_CIDRS", "10.0.0.0/33", "not a CIDR"),
        ("SENTRY_TRUSTED_CIDRS", "10.0.0.1/8", "host bits"),
        ("SENTRY_EXEMPT_PRINCIPALS", "*", "must start with 'arn:'"),
        ("SENTRY_DRY_RUN", "maybe", "true or false"),
        ("SENTRY_TOPIC_ARN", "alerts", "not an SNS topic ARN"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert f"{name}={value!r}" in str(caught.value)
    assert hint in str(caught.value)


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SENTRY_MODE": "x", "SENTRY_DRY_RUN": "y", "SENTRY_GROUP_IDS": "sg-0abc1234"})
    assert "SENTRY_MODE" in str(caught.value) and "SENTRY_DRY_RUN" in str(caught.value)
    assert "SENTRY_GROUP_IDS" not in str(caught.value)


def test_a_misspelt_setting_is_an_error_not_silence() -> None:
    with pytest.raises(ConfigError, match="SENTRY_GROUP_ID: not a setting of sg-sentry"):
        Settings.from_env({"SENTRY_GROUP_ID": "sg-0abc1234"})


def test_trusting_the_whole_internet_is_refused() -> None:
    with pytest.raises(ConfigError, match="whole internet"):
        Settings.from_env({"SENTRY_TRUSTED_CIDRS": "10.0.0.0/8,::/0"})


def test_the_sweep_rate_and_the_baseline_file_are_settings(tmp_path: Path) -> None:
    from chalicelib.domain.config import APP_ROOT, DEFAULT_SWEEP_MINUTES, sweep_minutes

    defaults = Settings.from_env({})
    assert defaults.sweep_minutes == DEFAULT_SWEEP_MINUTES == 15
    assert defaults.baseline_path == APP_ROOT / "chalicelib" / "baseline.json"  # may be absent: no baseline
    assert Settings.from_env({"SENTRY_SWEEP_MINUTES": "60"}).sweep_minutes == 60
    relative = Settings.from_env({"SENTRY_BASELINE_FILE": "chalicelib/__init__.py"})
    assert relative.baseline_path == APP_ROOT / "chalicelib" / "__init__.py"  # from the app's root, as in /var/task
    (tmp_path / "b.json").write_text("{}")
    assert Settings.from_env({"SENTRY_BASELINE_FILE": str(tmp_path / "b.json")}).baseline_path == tmp_path / "b.json"
    assert sweep_minutes({"SENTRY_SWEEP_MINUTES": "5"}) == 5


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("approved/prod.json", "must be under chalicelib/"),
        ("chalicelib/typo.json", "no such file"),
        ("/nowhere/baseline.json", "no such file"),
    ],
)
def test_a_baseline_file_that_would_not_be_there_is_refused(raw: str, complaint: str) -> None:
    # Named but absent would silently mean "no baseline": nothing restored, every group unjudged.
    with pytest.raises(ConfigError, match=f"SENTRY_BASELINE_FILE='{raw}': {complaint}"):
        Settings.from_env({"SENTRY_BASELINE_FILE": raw})


@pytest.mark.parametrize("raw", ["0", "1441", "15m", "-5", "1.5"])
def test_a_sweep_rate_out_of_range_is_refused_even_at_import(raw: str) -> None:
    from chalicelib.domain.config import sweep_minutes

    with pytest.raises(ConfigError, match="SENTRY_SWEEP_MINUTES"):
        Settings.from_env({"SENTRY_SWEEP_MINUTES": raw})
    with pytest.raises(ConfigError, match="1 to 1440"):
        sweep_minutes({"SENTRY_SWEEP_MINUTES": raw})


def test_the_sweeps_role_arn_must_be_a_role_arn() -> None:
    Settings.from_env({"SENTRY_SWEEP_ROLE_ARN": "arn:aws:iam::123456789012:role/stack-SweepRole-AbC"})
    with pytest.raises(ConfigError, match="SENTRY_SWEEP_ROLE_ARN='sweep': not an IAM role ARN"):
        Settings.from_env({"SENTRY_SWEEP_ROLE_ARN": "sweep"})
