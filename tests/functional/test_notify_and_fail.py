"""What SNS delivers, and what happens when AWS says no."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.domain.errors import AwsError, NotificationFailed, RevertFailed
from localaws import cloudtrail
from tests.faults import refuse, throttle
from tests.functional.conftest import Invoke, World, log_lines, ssh_from

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
ROOT = Path(__file__).resolve().parents[2]
# docs/how-it-decides.md, "When things fail": "botocore's adaptive retry mode tries each call up to 5 times in all".
PROMISED_ATTEMPTS = 5


def test_the_email_says_what_changed_who_did_it_from_where_and_what_was_reverted(world: World, sentry: Invoke) -> None:
    group = world.group("web-prod")
    identity = cloudtrail.assumed_role("Admin", "erin@example.com")
    event = world.change(
        "AuthorizeSecurityGroupIngress",
        {"identity": identity, "source_ip": "203.0.113.77", "user_agent": "console.ec2.amazonaws.com"},
        GroupId=group,
        IpPermissions=[ssh_from(), ssh_from("10.0.0.0/8", 443)],
    )

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    # The group's page in the EC2 console, written out here rather than asked of chalicelib.reports.
    console = f"https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId={group}"
    (email,) = world.emails()
    for expected in (
        f"Group        {group} (web-prod)",
        "Account      123456789012",
        "Region       eu-west-1",
        "Principal    arn:aws:sts::123456789012:assumed-role/Admin/erin@example.com",
        "Identity     AssumedRole (role arn:aws:iam::123456789012:role/Admin)",
        "Source IP    203.0.113.77",
        "Through      the AWS console",
        "When         2026-11-23T09:15:00Z",
        "tcp 22 from 0.0.0.0/0, ingress",
        "REVERTED: opens tcp 22 to the internet",
        "tcp 443 from 10.0.0.0/8, ingress",
        "ALLOWED: source 10.0.0.0/8 is internal",
        f"CloudTrail event ID  {event['detail']['eventID']}",
        f"Console      {console}",
    ):
        assert expected in email
    ((subject, document),) = world.messages()
    assert subject == f"sg-sentry: reverted 1 rule, allowed 1 rule on {group} (web-prod)"
    assert document["summary"] == "reverted" and document["text"] == email
    assert document["group"] == {"id": group, "name": "web-prod", "console_url": console}
    assert [(r["rule"], r["outcome"]) for r in document["rules"]] == [
        ("tcp 22 from 0.0.0.0/0, ingress", "reverted"),
        ("tcp 443 from 10.0.0.0/8, ingress", "allowed"),
    ]


def test_hostile_descriptions_and_user_agents_reach_sns_as_a_valid_subject(world: World, sentry: Invoke) -> None:
    hostile = "x\r\nSubject: spoofed\x07\u202e" + "é" * 300
    group = world.group("prod\nweb\t" + "ä" * 200)
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.change(
        "AuthorizeSecurityGroupIngress", {"user_agent": hostile}, GroupId=group, IpPermissions=[permission]
    )
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["description"] = hostile

    sentry(event, SENTRY_GROUP_IDS=group)

    ((subject, document),) = world.messages()
    assert len(subject) <= 100 and subject.isascii() and subject.isprintable()
    assert "\r" not in document["text"] and "\x07" not in document["text"]
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_a_failed_revert_is_reported_and_raised(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    refuse("ec2", "RevokeSecurityGroupIngress", "UnauthorizedOperation")

    with pytest.raises(RevertFailed, match="UnauthorizedOperation"):
        sentry(event, SENTRY_GROUP_IDS=group)

    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(group)  # it really is still open
    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry: FAILED to revert 1 rule on")
    assert "FAILED TO REVERT" in document["text"]
    assert "UnauthorizedOperation: UnauthorizedOperation injected by the test" in document["text"]
    decision = next(line for line in log_lines(capsys.readouterr().out) if line["outcome"] == "failed")
    assert decision["level"] == "ERROR" and decision["group_id"] == group


def test_throttling_is_retried_and_the_revert_goes_through(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    attempts = throttle("RevokeSecurityGroupIngress", 2, monkeypatch)

    sentry(event, SENTRY_GROUP_IDS=group)

    assert len(attempts) == 3
    assert world.rules(group) == {DEFAULT_EGRESS}
    ((_, document),) = world.messages()
    assert document["rules"][0]["outcome"] == "reverted"


def test_throttling_that_outlasts_the_retries_is_a_failure(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    attempts = throttle("RevokeSecurityGroupIngress", 99, monkeypatch)

    with pytest.raises(RevertFailed, match="RequestLimitExceeded"):
        sentry(event, SENTRY_GROUP_IDS=group)

    # Bounded as the docs promise: the first try and 4 retries. A literal, not the code's own setting,
    # so a change to the code's retries that the docs do not follow fails here.
    assert "tries each call up to 5 times in all" in " ".join((ROOT / "docs" / "how-it-decides.md").read_text().split())
    assert len(attempts) == PROMISED_ATTEMPTS
    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(group)
    ((subject, _),) = world.messages()
    assert subject.startswith("sg-sentry: FAILED to revert 1 rule")


@pytest.mark.parametrize(
    ("setting", "outcomes"),
    [
        ("SENTRY_TOPIC_ARN", ["reverted", "notification-failed"]),
        # The chat topic's (docs/deploying.md, "Chat"): the email still goes out, then the failure is raised.
        ("SENTRY_CHAT_TOPIC_ARN", ["reverted", "notified", "notification-failed"]),
    ],
    ids=["topic", "chat-topic"],
)
def test_a_failed_notification_never_prevents_the_revert(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str], setting: str, outcomes: list[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    missing_topic = world.topic_arn.replace("sg-sentry-alerts", "sg-sentry-deleted")

    with pytest.raises(NotificationFailed, match="sg-sentry-deleted"):
        sentry(event, SENTRY_GROUP_IDS=group, **{setting: missing_topic})

    assert world.rules(group) == {DEFAULT_EGRESS}
    lines = log_lines(capsys.readouterr().out)
    assert [line["outcome"] for line in lines] == outcomes
    assert missing_topic in lines[-1]["message"]
    assert len(world.messages()) == len(outcomes) - 2  # the email topic's message, when it was not the one missing


def test_without_a_topic_the_report_goes_to_the_log_only(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_TOPIC_ARN="")

    assert world.rules(group) == {DEFAULT_EGRESS}
    assert world.messages() == []
    (line,) = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "reverted"


def test_a_failed_egress_revert_is_reported_and_raised(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupEgress", GroupId=group, IpPermissions=[ssh_from("::/0", 25)])
    refuse("ec2", "RevokeSecurityGroupEgress", "UnauthorizedOperation")

    with pytest.raises(RevertFailed, match="tcp 25 to ::/0, egress"):
        sentry(event, SENTRY_GROUP_IDS=group)

    assert "tcp 25 to ::/0, egress" in world.rules(group)
    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry: FAILED to revert 1 rule")
    assert document["rules"][0]["direction"] == "egress"


def test_when_revert_and_notification_both_fail_the_revert_failure_is_raised(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    refuse("ec2", "RevokeSecurityGroupIngress", "UnauthorizedOperation")
    refuse("sns", "Publish", "AuthorizationError")

    with pytest.raises(RevertFailed):
        sentry(event, SENTRY_GROUP_IDS=group)

    outcomes = [line["outcome"] for line in log_lines(capsys.readouterr().out)]
    assert outcomes == ["failed", "notification-failed"]


def test_a_failed_lookup_is_reported_and_raised(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group(tags={"guard": "yes"})
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    refuse("ec2", "DescribeSecurityGroups", "UnauthorizedOperation")

    with pytest.raises(AwsError, match="UnauthorizedOperation"):
        sentry(event, SENTRY_GROUP_TAG="guard")

    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(group)
    ((subject, document),) = world.messages()
    assert subject == f"sg-sentry: could not evaluate AuthorizeSecurityGroupIngress on {group}"
    assert "could not look up the group or its rules: UnauthorizedOperation" in document["text"]
    assert [line["outcome"] for line in log_lines(capsys.readouterr().out)] == ["failed", "notified"]
