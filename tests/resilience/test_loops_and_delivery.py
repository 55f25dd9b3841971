"""Loops, blast radius, retries and delivery order: the sentry keeps reverting and keeps telling."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.adapters.log import DecisionLog
from chalicelib.usecases.handle_event import handle_event
from localaws import cloudtrail
from tests.conftest import load_event
from tests.faults import INJECTED, refuse, throttle
from tests.functional.conftest import REGION, Invoke, World, log_lines, session_of, ssh_from

FUNCTION = "sg-sentry-prod-on_security_group_change"
DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
SSH_WORLD = "tcp 22 from 0.0.0.0/0, ingress"


def test_the_sentry_never_reacts_to_its_own_calls(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    own = session_of(FUNCTION, FUNCTION, monkeypatch)  # Chalice names the role after the function
    event = world.change("AuthorizeSecurityGroupIngress", {"identity": own}, GroupId=group, IpPermissions=[ssh_from()])

    answer = sentry(event, SENTRY_GROUP_IDS=group, AWS_LAMBDA_FUNCTION_NAME=FUNCTION)

    assert answer["outcome"] == "own-change"
    assert SSH_WORLD in world.rules(group)  # left alone: the sentry made it (a restore, in lockdown with a baseline)
    assert [line["outcome"] for line in log_lines(capsys.readouterr().out)] == ["own-change"]
    assert world.messages() == []


def test_the_records_of_its_own_tag_and_interface_calls_cause_nothing_further(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import DEPLOYED_CALLS

    guarded = world.group("guarded", tags={"sg-sentry": "guard"})
    open_ssh = world.group("open-ssh")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    instance, interface = world.instance(guarded)
    person = [
        world.change("DeleteTags", Resources=[guarded], Tags=[{"Key": "sg-sentry"}]),
        world.change("ModifyInstanceAttribute", InstanceId=instance, Groups=[guarded, open_ssh]),
    ]
    env = {"SENTRY_GROUP_TAG": "sg-sentry=guard", "AWS_LAMBDA_FUNCTION_NAME": FUNCTION}
    own = session_of(FUNCTION, FUNCTION, monkeypatch)
    DEPLOYED_CALLS.clear()
    for event in person:
        sentry(event, **env)
    assert world.tags(guarded) == {"sg-sentry": "guard"} and world.interface_groups(interface) == {guarded}
    writes = [
        (op, params)
        for service, op, params in DEPLOYED_CALLS
        if service == "ec2" and op in ("CreateTags", "ModifyNetworkInterfaceAttribute")
    ]
    assert [op for op, _ in writes] == ["CreateTags", "ModifyNetworkInterfaceAttribute"]
    # EventBridge delivers the records of those calls, made by the sentry's own session, back to it.
    echoes = [
        cloudtrail.eventbridge(cloudtrail.record(op, params, region=REGION, identity=own, response={}))
        for op, params in writes
    ]
    world.messages()
    capsys.readouterr()
    DEPLOYED_CALLS.clear()

    for event in echoes:
        assert sentry(event, **env)["outcome"] == "own-change"

    assert [line["outcome"] for line in log_lines(capsys.readouterr().out)] == ["own-change", "own-change"]
    assert [call[1] for call in DEPLOYED_CALLS] in ([], ["GetCallerIdentity"])  # no EC2 call at all
    assert world.messages() == []


def test_a_session_named_like_the_sentry_is_not_the_sentry(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = world.group()
    session_of(FUNCTION, FUNCTION, monkeypatch)  # the function's real identity
    impostor = cloudtrail.assumed_role("attacker-role", FUNCTION)
    event = world.change(
        "AuthorizeSecurityGroupIngress", {"identity": impostor}, GroupId=group, IpPermissions=[ssh_from()]
    )

    sentry(event, SENTRY_GROUP_IDS=group, AWS_LAMBDA_FUNCTION_NAME=FUNCTION)

    assert world.rules(group) == {DEFAULT_EGRESS}


def test_a_new_group_keeps_its_default_outbound_rule_when_every_group_is_guarded(world: World, sentry: Invoke) -> None:
    # CreateSecurityGroup adds the "all traffic out" rule itself; no Authorize call, so no event to revert.
    params = {"GroupName": "fresh", "Description": "fresh", "VpcId": world.vpc_id}
    group = world.ec2.create_security_group(**params)["GroupId"]
    record = cloudtrail.record("CreateSecurityGroup", params, region=REGION)
    record["responseElements"] = {"_return": True, "groupId": group}

    assert sentry(cloudtrail.eventbridge(record), SENTRY_GROUP_IDS="*")["outcome"] == "out-of-scope"

    assert world.rules(group) == {DEFAULT_EGRESS}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SENTRY_TRUSTED_CIDRS", "10.0.0.0/8,not-a-cidr"),
        ("SENTRY_MODE", "paranoid"),
        ("SENTRY_GROUP_TAG", "=guard"),
        ("SENTRY_GROUP_IDS", "web-prod"),
        ("SENTRY_OPEN_PORTS", "443,https"),
        ("SENTRY_EXEMPT_PRINCIPALS", "*"),
    ],
)
def test_a_mis_set_configuration_fails_closed_and_changes_nothing(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str], setting: str, value: str
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    settings = {"SENTRY_GROUP_IDS": group, setting: value}

    with pytest.raises(ValueError, match=f"{setting}="):
        sentry(event, **settings)

    assert SSH_WORLD in world.rules(group) and world.messages() == []
    (line,) = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "config-error" and setting in line["message"]


@pytest.mark.parametrize("fault", ["RequestLimitExceeded", "Unavailable"])
def test_throttling_and_5xx_answers_are_retried(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupEgress", GroupId=group, IpPermissions=[ssh_from("::/0", 25)])
    attempts = throttle("RevokeSecurityGroupEgress", 3, monkeypatch, fault)

    sentry(event, SENTRY_GROUP_IDS=group)

    assert len(attempts) == 4 and INJECTED[f"{fault} on RevokeSecurityGroupEgress"] >= 3
    assert world.rules(group) == {DEFAULT_EGRESS}
    ((_, document),) = world.messages()
    assert document["rules"][0]["outcome"] == "reverted"


def test_a_topic_that_no_longer_exists_is_named_in_the_log(
    world: World, sentry: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    world.sns.delete_topic(TopicArn=world.topic_arn)

    with pytest.raises(RuntimeError, match="could not publish"):
        sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}  # reverted anyway
    failure = next(line for line in log_lines(capsys.readouterr().out) if line["outcome"] == "notification-failed")
    assert failure["level"] == "ERROR"
    assert f"could not publish to {world.topic_arn}: NotFound" in failure["message"]


def test_a_change_undone_before_its_event_arrives(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    first = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    world.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])  # its author undid it
    second = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])  # and again

    sentry(second, SENTRY_GROUP_IDS=group)  # events arrive out of order
    sentry(first, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {"tcp 443 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    outcomes = [document["rules"][0]["outcome"] for _, document in world.messages()]
    assert outcomes == ["reverted", "already-gone"]


def test_several_events_for_one_group_at_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    ports = [22, 23, 3389, 5432, 6379, 9200]
    events = [
        world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from(port=p)]) for p in ports
    ]
    events += events[:3]  # and some delivered twice
    env = {"SENTRY_GROUP_IDS": group, "SENTRY_TOPIC_ARN": world.topic_arn}

    def handle(event: dict[str, Any]) -> Any:
        return handle_event(event, env=env, log=DecisionLog(io.StringIO()))

    with ThreadPoolExecutor(max_workers=4) as pool:
        handled = list(pool.map(handle, events))

    assert world.rules(group) == {"tcp 443 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    assert all(result is not None and not result.failures for result in handled)
    assert len(world.messages()) == len(events)  # one report per event, none lost


def test_the_json_payload_is_valid_json_whatever_the_text(world: World, sentry: Invoke) -> None:
    group = world.group('web"}{[x]&;$*=' + "a" * 200)  # what EC2 allows in a name, at its longest
    hostile = '"},{"injected": true, "x": "' + "\ud7ff\U0010ffff\x1b[2J" * 50
    event = world.change(
        "AuthorizeSecurityGroupIngress", {"user_agent": hostile}, GroupId=group, IpPermissions=[ssh_from()]
    )

    sentry(event, SENTRY_GROUP_IDS=group)

    # What SQS really received: SNS's envelope, and in it the message string exactly as delivered.
    (delivery,) = world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(delivery["Body"])
    subject, raw = envelope["Subject"], envelope["Message"]
    assert isinstance(raw, str) and raw.encode("utf-8")  # sendable: no lone surrogate
    assert "\x1b" not in raw and "\U0010ffff" not in raw and "\ud7ff" not in raw  # stripped, not escaped through
    document = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    assert "injected" not in _keys(document)  # the user agent's text never became structure
    # Its parts, as meant: the name kept whole (printable, within bounds), the user agent with every control
    # and unassigned character turned into a space and the spaces collapsed, the rule reverted.
    name = 'web"}{[x]&;$*=' + "a" * 200
    console = f"https://{REGION}.console.aws.amazon.com/ec2/home?region={REGION}#SecurityGroup:groupId={group}"
    assert document["group"] == {"id": group, "name": name, "console_url": console}
    assert document["actor"]["user_agent"] == '"},{"injected": true, "x": "' + " [2J" * 50
    assert [(rule["rule"], rule["outcome"]) for rule in document["rules"]] == [(SSH_WORLD, "reverted")]
    assert document["summary"] == "reverted" and document["subject"] == subject
    (email,) = world.emails()
    assert document["text"] == email and f"Group        {group} ({name[:63]}…)" in email
    assert subject.isascii() and subject.isprintable() and len(subject) < 100
    assert subject.startswith(f'sg-sentry: reverted 1 rule on {group} (web"}}{{[x]&;$*=aaa')


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in the delivered JSON: {keys}"
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def _keys(value: Any) -> set[str]:
    """Every key, at any depth."""
    if isinstance(value, dict):
        return set(value).union(*(_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value))
    return set()


def test_an_unreadable_event_whose_report_also_fails_is_raised(world: World, sentry: Invoke) -> None:
    event = load_event("authorize_ingress_nested_ruleset.json")
    event["detail"]["responseElements"]["securityGroupRuleSet"] = {"items": "garbage"}
    world.sns.delete_topic(TopicArn=world.topic_arn)

    with pytest.raises(RuntimeError, match="could not publish"):  # neither evaluated nor reported: retry
        sentry(event, SENTRY_GROUP_IDS="*")


def test_if_sts_fails_a_look_alike_change_is_judged_like_any_other(
    world: World, sentry: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = world.group()
    look_alike = cloudtrail.assumed_role(FUNCTION, FUNCTION)
    event = world.change(
        "AuthorizeSecurityGroupIngress", {"identity": look_alike}, GroupId=group, IpPermissions=[ssh_from()]
    )
    refuse("sts", "GetCallerIdentity", "ServiceUnavailable", status=503)

    sentry(event, SENTRY_GROUP_IDS=group, AWS_LAMBDA_FUNCTION_NAME=FUNCTION)

    assert world.rules(group) == {DEFAULT_EGRESS}  # fail closed: reverted
