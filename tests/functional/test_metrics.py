"""The metrics in the log lines (Embedded Metric Format), read from the lines the handlers really write.

The handlers are called as Lambda calls them, with a context whose ARN names
the account, against moto; each line is checked against the EMF rules
CloudWatch Logs applies (every dimension and metric a member of the line,
the metrics numbers, the time in milliseconds) before its numbers are read.
The names are written out here, as the docs promise them.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import on_security_group_change, scheduled_sweep
from chalicelib.domain.errors import RevertFailed, SweepFailed
from localaws import cloudtrail
from tests.conftest import load_event
from tests.faults import refuse
from tests.functional.conftest import REGION, World, log_lines, scheduled_event, ssh_from
from tests.functional.test_baseline_and_sweep import https_internal, take_baseline

ACCOUNT = cloudtrail.ACCOUNT
COUNTS = ("Reverted", "Restored", "Failed", "Allowed", "NotUnderstood")
DIMENSION_SETS = [["Mode", "Account"], ["Mode"], []]


class Context:
    """What Lambda hands the handler: its ARN names the deployment's account."""

    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sg-sentry-dev-on_security_group_change"


def run(handler: Any, event: dict[str, Any], world: World, monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    for name, value in ({"SENTRY_TOPIC_ARN": world.topic_arn, "AWS_REGION": REGION} | env).items():
        monkeypatch.setenv(name, value)
    return handler(event, Context())


def metrics(line: dict[str, Any]) -> dict[str, Any]:
    """The metrics and dimensions of one line, once it is proven to be what CloudWatch Logs extracts."""
    aws = line["_aws"]
    assert abs(aws["Timestamp"] - time.time() * 1000) < 60_000  # milliseconds, now
    (directive,) = aws["CloudWatchMetrics"]
    assert directive["Namespace"] == "sg-sentry"
    assert directive["Dimensions"] == DIMENSION_SETS  # the empty set: the total an alarm watches
    names = [metric["Name"] for metric in directive["Metrics"]]
    assert names[: len(COUNTS)] == list(COUNTS) and set(names) <= {*COUNTS, "ExposureSeconds"}
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert all(units[name] == ("Seconds" if name == "ExposureSeconds" else "Count") for name in names)
    assert all(isinstance(line[name], int | float) and not isinstance(line[name], bool) for name in names)
    assert isinstance(line["Mode"], str) and isinstance(line["Account"], str)
    return {name: line[name] for name in (*names, "Mode", "Account")}


def measured(out: str) -> list[tuple[str, dict[str, Any]]]:
    """(outcome, metrics) of every line that carries metrics."""
    return [(line["outcome"], metrics(line)) for line in log_lines(out) if "_aws" in line]


def counts(**found: int) -> dict[str, int]:
    return {name: found.get(name, 0) for name in COUNTS}


def ssh_opened(world: World, group: str, seconds: int = 14) -> dict[str, Any]:
    """The event of SSH opened to the world on `group`, `seconds` ago by CloudTrail's clock."""
    when = (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return world.change(
        "AuthorizeSecurityGroupIngress", {"event_time": when}, GroupId=group, IpPermissions=[ssh_from()]
    )


def test_a_revert_counts_reverted_and_its_exposure_window_and_the_email_says_how_long_it_was_open(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = ssh_opened(world, group)

    answer = run(on_security_group_change, event, world, monkeypatch, SENTRY_GROUP_IDS=group)

    assert answer["outcome"] == "reverted" and "tcp 22 from 0.0.0.0/0, ingress" not in world.rules(group)
    ((outcome, found),) = measured(capsys.readouterr().out)  # one line with numbers: the decision's
    exposure = found.pop("ExposureSeconds")
    assert outcome == "reverted"
    assert found == counts(Reverted=1) | {"Mode": "lockdown", "Account": ACCOUNT}
    assert 14 <= exposure < 14 + 30  # the record's second, to the check after the revoke
    (email,) = world.emails()
    said = re.search(r"open for (\d+) s, from the change until the revert was confirmed", email)
    assert said is not None and int(said[1]) == round(exposure)
    ((_, document),) = world.messages()
    assert document["exposure_seconds"] == exposure


def test_a_failed_revert_counts_failed_and_no_window(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    refuse("ec2", "RevokeSecurityGroupIngress", "UnauthorizedOperation")

    with pytest.raises(RevertFailed):
        run(on_security_group_change, event, world, monkeypatch, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert measured(capsys.readouterr().out) == [
        ("failed", counts(Failed=1) | {"Mode": "internet", "Account": ACCOUNT})
    ]
    (email,) = world.emails()
    assert "open for" not in email
    assert world.messages()[0][1]["exposure_seconds"] is None


def test_a_revert_the_check_could_not_prove_counts_but_says_no_window(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = ssh_opened(world, group)
    refuse("ec2", "DescribeSecurityGroupRules", "UnauthorizedOperation")  # the read after the revoke

    run(on_security_group_change, event, world, monkeypatch, SENTRY_GROUP_IDS=group)

    assert measured(capsys.readouterr().out) == [
        ("reverted", counts(Reverted=1) | {"Mode": "lockdown", "Account": ACCOUNT})
    ]
    (email,) = world.emails()
    assert "the check afterwards failed" in email and "open for" not in email


def test_an_allowed_rule_counts_allowed(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])

    run(on_security_group_change, event, world, monkeypatch, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert measured(capsys.readouterr().out) == [
        ("allowed", counts(Allowed=1) | {"Mode": "internet", "Account": ACCOUNT})
    ]


def test_a_dry_run_counts_no_revert_and_says_nothing_of_a_window(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = ssh_opened(world, group)

    run(on_security_group_change, event, world, monkeypatch, SENTRY_GROUP_IDS=group, SENTRY_DRY_RUN="true")

    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(group)
    assert measured(capsys.readouterr().out) == [("dry-run", counts() | {"Mode": "lockdown", "Account": ACCOUNT})]
    (email,) = world.emails()
    assert "open for" not in email and "Exposure" not in email


def test_a_record_it_cannot_read_counts_not_understood(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("authorize_ingress_nested_ruleset.json")
    event["detail"]["responseElements"]["securityGroupRuleSet"] = {"items": "garbage"}

    run(on_security_group_change, event, world, monkeypatch, SENTRY_GROUP_IDS="*")

    assert measured(capsys.readouterr().out) == [
        ("not-understood", counts(NotUnderstood=1) | {"Mode": "lockdown", "Account": ACCOUNT})
    ]


def test_the_sweeps_restore_counts_restored_in_its_summary_line(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[https_internal()])
    baseline = tmp_path / "baseline.json"
    take_baseline(world, baseline, group)
    world.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[https_internal()])
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])

    answer = run(
        scheduled_sweep,
        scheduled_event(),
        world,
        monkeypatch,
        SENTRY_GROUP_IDS=group,
        SENTRY_BASELINE_FILE=str(baseline),
    )

    assert answer["rules"] == {"reverted": 1, "restored": 1}
    # One line with numbers for the whole sweep (the group's own line says what, without them); the sweep
    # does not know when the rule it reverted was opened: no window.
    assert measured(capsys.readouterr().out) == [
        ("sweep-reverted", counts(Reverted=1, Restored=1) | {"Mode": "lockdown", "Account": ACCOUNT})
    ]


def test_a_place_of_a_round_that_could_not_be_read_counts_failed_once(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    refuse("ec2", "DescribeSecurityGroups", "UnauthorizedOperation")

    with pytest.raises(SweepFailed):  # SENTRY_REGIONS: a round, in one process
        run(scheduled_sweep, scheduled_event(), world, monkeypatch, SENTRY_GROUP_IDS=group, SENTRY_REGIONS=REGION)

    out = capsys.readouterr().out
    assert [line["outcome"] for line in log_lines(out)].count("failed") == 2  # judge's line, and the place's
    assert measured(out) == [("failed", counts(Failed=1) | {"Mode": "lockdown", "Account": ACCOUNT})]
