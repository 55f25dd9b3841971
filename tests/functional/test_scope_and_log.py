"""Which groups are guarded, what is ignored, what is logged, and which AWS calls come first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import aws
from chalicelib.domain.config import ConfigError
from tests.conftest import load_event
from tests.functional.conftest import REGION, Invoke, World, log_lines, ssh_from

SSH_WORLD = "tcp 22 from 0.0.0.0/0, ingress"
DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
# docs/how-it-decides.md, "Logs": "always with the keys `time`, `level`, `message`, ...": written out here, not
# taken from chalicelib.adapters.log, so a key dropped from the code (or the docs) fails the test.
PROMISED_KEYS = [
    "time",
    "level",
    "message",
    "event_id",
    "event_name",
    "group_id",
    "actor",
    "outcome",
    "dry_run",
    "rules",
]
ROOT = Path(__file__).resolve().parents[2]


def record_calls(service: str) -> list[str]:
    """Names of the API operations the sentry's own client makes from now on."""
    calls: list[str] = []

    def hook(model: Any, **_: Any) -> None:
        calls.append(model.name)

    aws.client(service, REGION).meta.events.register(f"before-call.{service}", hook)
    return calls


def test_groups_carrying_the_tag_are_guarded_and_others_are_not(world: World, sentry: Invoke) -> None:
    tagged = world.group("tagged", tags={"sg-sentry": "guard"})
    other_value = world.group("other-value", tags={"sg-sentry": "off"})
    untagged = world.group("untagged")
    for group in (tagged, other_value, untagged):
        event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
        sentry(event, SENTRY_GROUP_TAG="sg-sentry=guard")

    assert world.rules(tagged) == {DEFAULT_EGRESS}
    assert SSH_WORLD in world.rules(other_value)
    assert SSH_WORLD in world.rules(untagged)
    assert len(world.messages()) == 1


def test_star_guards_every_group(world: World, sentry: Invoke) -> None:
    group = world.group()
    sentry(
        world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()]), SENTRY_GROUP_IDS="*"
    )
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_with_ids_and_rule_ids_the_first_aws_call_is_the_revoke(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    calls = record_calls("ec2")

    sentry(event, SENTRY_GROUP_IDS=group)

    assert calls[0] == "RevokeSecurityGroupIngress"
    # Then a look to confirm the rule is gone, and the group's name for the email.
    assert calls == ["RevokeSecurityGroupIngress", "DescribeSecurityGroupRules", "DescribeSecurityGroups"]


def test_tag_lookups_are_cached(world: World, sentry: Invoke) -> None:
    group = world.group(tags={"team": "web"})
    first = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    second = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from("::/0")])
    calls = record_calls("ec2")

    sentry(first, SENTRY_GROUP_TAG="team")
    sentry(second, SENTRY_GROUP_TAG="team")

    revoke_and_confirm = ["RevokeSecurityGroupIngress", "DescribeSecurityGroupRules"]
    assert calls == ["DescribeSecurityGroups", *revoke_and_confirm, *revoke_and_confirm]  # one tag lookup
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_nothing_guarded_means_nothing_done_and_a_clear_log(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    sentry(world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()]))

    assert SSH_WORLD in world.rules(group)
    (line,) = log_lines(capsys.readouterr().out)
    assert line["level"] == "WARNING"
    assert "no security group is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG" in line["message"]


def test_a_bad_setting_fails_closed_naming_the_variable(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    with pytest.raises(ConfigError, match=re.escape("SENTRY_TRUSTED_CIDRS='10.0.0.0/33'")):
        sentry(event, SENTRY_GROUP_IDS=group, SENTRY_TRUSTED_CIDRS="10.0.0.0/33")

    assert SSH_WORLD in world.rules(group)
    assert world.messages() == []
    (line,) = log_lines(capsys.readouterr().out)
    assert (line["level"], line["outcome"]) == ("ERROR", "config-error")


def test_events_outside_its_scope_are_logged_and_ignored(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("revoke_ingress.json")
    event["detail"]["eventName"] = "DeleteSecurityGroup"
    assert sentry(event, SENTRY_GROUP_IDS="*")["outcome"] == "out-of-scope"
    (line,) = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "out-of-scope" and "DeleteSecurityGroup" in line["message"]
    assert world.messages() == []


@pytest.mark.parametrize("mode", ["lockdown", "internet"])
def test_a_revoke_on_a_group_without_a_baseline_needs_nothing(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    event = load_event("revoke_ingress.json")
    assert sentry(event, SENTRY_GROUP_IDS="*", SENTRY_MODE=mode)["outcome"] == "nothing-to-do"
    (line,) = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "nothing-to-do" and "baseline" in line["message"]
    assert world.messages() == []


def test_an_event_it_cannot_read_is_logged_and_reported_without_raising(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("authorize_ingress_nested_ruleset.json")
    event["detail"]["responseElements"]["securityGroupRuleSet"] = {"items": "garbage"}

    assert sentry(event, SENTRY_GROUP_IDS="*")["outcome"] == "not-understood"

    lines = log_lines(capsys.readouterr().out)
    assert [(line["outcome"], line["event_id"]) for line in lines] == [
        ("not-understood", "evt-nested-ruleset"),
        ("notified", "evt-nested-ruleset"),
    ]
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: could not evaluate a security-group change"
    assert "expected a list of items" in document["text"] and "evt-nested-ruleset" in document["text"]


def test_every_decision_is_one_json_line_with_stable_keys(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group, untouched = world.group(), world.group("elsewhere")
    sentry(
        world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()]), SENTRY_GROUP_IDS=group
    )
    sentry(
        world.change("AuthorizeSecurityGroupIngress", GroupId=untouched, IpPermissions=[ssh_from()]),
        SENTRY_GROUP_IDS=group,
    )
    outside = load_event("revoke_ingress.json")  # and a line with none of the event's fields: all of them null
    outside["detail"]["eventName"] = "DeleteSecurityGroup"
    sentry(outside, SENTRY_GROUP_IDS=group)

    lines = log_lines(capsys.readouterr().out)
    # The unguarded group's change opens it to the internet: one look at whether a guarded workload carries it.
    assert [line["outcome"] for line in lines] == ["reverted", "notified", "not-guarded", "clean", "out-of-scope"]
    readme = " ".join((ROOT / "docs" / "how-it-decides.md").read_text().split())
    promise = re.search(r"always with the keys (.*?)\. `outcome` is one of", readme)
    assert promise and re.findall(r"`(\w+)`", promise[1]) == PROMISED_KEYS  # what the docs still say
    assert all(set(PROMISED_KEYS) <= set(line) for line in lines), [sorted(line) for line in lines]
    decision = lines[0]
    assert decision["group_id"] == group
    assert decision["actor"] == "arn:aws:iam::123456789012:user/alice"
    assert decision["rules"][0]["rule"] == SSH_WORLD and decision["rules"][0]["outcome"] == "reverted"
    assert lines[2]["group_id"] == untouched and "is not guarded" in lines[2]["message"]
    assert all(lines[-1][key] is None for key in PROMISED_KEYS if key not in ("time", "level", "message", "outcome"))
