"""One central deployment guarding several accounts and regions: it acts where the record says, and nowhere else.

moto keeps one AWS per account ID: credentials from `AssumeRole` into an
account act in that account. The events are built as AWS delivers them to
the central bus (the member's account and region in the envelope and the
record), and handed to the handler; the forwarding itself (rule pattern,
target, bus policy) is checked on the templates (tests/deploy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.sts.models import sts_backends

from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.domain.accounts import Place
from chalicelib.domain.baseline import ApprovedGroup
from chalicelib.domain.errors import AwsError
from chalicelib.domain.rules import rule_from_security_group_rule
from chalicelib.usecases.fan_out import scheduled_round, sweep_message, sweep_round
from localaws import cloudtrail
from localaws.server import in_account as admin_in
from tests.functional.conftest import REGION, World, invoke_handler

CENTRAL = cloudtrail.ACCOUNT
MEMBER_B = "222222222222"
MEMBER_C = "333333333333"
OTHER_REGION = "us-east-1"
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
SSH_WORLD_RULE = "tcp 22 from 0.0.0.0/0, ingress"
GUARD = {"sg-sentry": "guard"}
TABLE = "sg-sentry-baseline"


@dataclass
class Account:
    """One account of the organization, in one region, with an admin's credentials there."""

    account: str
    region: str
    ec2: Any
    vpc_id: str

    def group(self, name: str = "web-prod", tags: dict[str, str] | None = None) -> str:
        spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
        return str(
            self.ec2.create_security_group(
                GroupName=name, Description=name, VpcId=self.vpc_id, **({"TagSpecifications": spec} if tags else {})
            )["GroupId"]
        )

    def rules(self, group_id: str) -> set[str]:
        pages = self.ec2.get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": "group-id", "Values": [group_id]}]
        )
        return {str(rule_from_security_group_rule(r)) for page in pages for r in page["SecurityGroupRules"]}

    def open_ssh(self, group_id: str, identity: dict[str, Any] | None = None) -> dict[str, Any]:
        """Open SSH to the world for real, and return the event AWS delivers to the central bus for it."""
        params = {"GroupId": group_id, "IpPermissions": [SSH_WORLD]}
        _, created = cloudtrail.apply(self.ec2, "AuthorizeSecurityGroupIngress", **params)
        who = identity or cloudtrail.assumed_role("developer", "mallory", account=self.account)
        record = cloudtrail.record(
            "AuthorizeSecurityGroupIngress", params, created, region=self.region, identity=who, account=self.account
        )
        return cloudtrail.eventbridge(record)


def in_account(account: str, region: str) -> Account:
    ec2 = boto3.client("ec2", region_name=region) if account == CENTRAL else admin_in(account, region).client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return Account(account, region, ec2, vpc_id)


def central_env(world: World, **more: str) -> dict[str, str]:
    return {
        "SENTRY_TOPIC_ARN": world.topic_arn,
        "SENTRY_MODE": "internet",
        "SENTRY_GROUP_TAG": "sg-sentry=guard",
        "SENTRY_ACCOUNTS": f"{CENTRAL},{MEMBER_B}",
        **more,
    }


def sessions_in(account: str) -> list[str]:
    """The role sessions opened in `account`, as its CloudTrail would name them."""
    return [role.session_name for role in sts_backends[account]["aws"].assumed_roles if role.session_name != "admin"]


def test_an_event_from_member_b_in_another_region_is_reverted_there_and_nowhere_else(
    world: World, tmp_path: Path
) -> None:
    member = in_account(MEMBER_B, OTHER_REGION)
    # The same opening, guarded, in the places the event is not about: they must keep it.
    elsewhere = [in_account(MEMBER_B, REGION), in_account(CENTRAL, OTHER_REGION), in_account(CENTRAL, REGION)]
    untouched = []
    for place in elsewhere:
        group = place.group(tags=GUARD)
        place.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_WORLD])
        untouched.append((place, group))
    group = member.group(tags=GUARD)
    event = member.open_ssh(group)

    answer = invoke_handler(event, tmp_path, **central_env(world))

    assert answer["outcome"] == "reverted" and answer["account"] == MEMBER_B
    assert SSH_WORLD_RULE not in member.rules(group)
    for place, other in untouched:
        assert SSH_WORLD_RULE in place.rules(other), f"{place.account}/{place.region} was touched"
    # The member's CloudTrail names the event that made the sentry act.
    assert f"sg-sentry-{event['detail']['eventID']}" in sessions_in(MEMBER_B)
    ((subject, document),) = world.messages()
    assert subject.endswith(f"on {group} (web-prod) in {MEMBER_B}")
    assert document["event"]["account"] == MEMBER_B
    (email,) = world.emails()
    assert f"Account      {MEMBER_B}" in email


def test_an_event_from_an_account_not_guarded_changes_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = in_account(MEMBER_C, REGION)
    group = stranger.group(tags=GUARD)
    event = stranger.open_ssh(group)

    answer = invoke_handler(event, tmp_path, **central_env(world))

    assert answer["outcome"] == "not-guarded"
    assert SSH_WORLD_RULE in stranger.rules(group)
    assert sessions_in(MEMBER_C) == [] and world.messages() == []
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if MEMBER_C in text]
    assert line["outcome"] == "not-guarded"
    assert (
        f"account {MEMBER_C} is not guarded (this deployment guards accounts {CENTRAL}, {MEMBER_B})"
        in (line["message"])
    )


def test_the_whole_organization_is_the_active_accounts_organizations_lists(world: World, tmp_path: Path) -> None:
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    joined = organizations.create_account(AccountName="payments", Email="payments@example.com")
    member_id = joined["CreateAccountStatus"]["AccountId"]
    member, stranger = in_account(member_id, REGION), in_account(MEMBER_C, REGION)
    in_org, outside = member.group(tags=GUARD), stranger.group(tags=GUARD)

    invoke_handler(member.open_ssh(in_org), tmp_path, **central_env(world, SENTRY_ACCOUNTS="*"))
    answer = invoke_handler(stranger.open_ssh(outside), tmp_path, **central_env(world, SENTRY_ACCOUNTS="*"))

    assert SSH_WORLD_RULE not in member.rules(in_org)
    assert answer["outcome"] == "not-guarded" and SSH_WORLD_RULE in stranger.rules(outside)
    ((subject, _),) = world.messages()
    (email,) = world.emails()
    # Organizations names the account: the email says which one it is.
    assert f"Account      {member_id} (payments)" in email and member_id in subject


def test_the_sentrys_own_calls_in_a_member_account_cause_nothing(world: World, tmp_path: Path) -> None:
    member = in_account(MEMBER_B, REGION)
    group, other = member.group(tags=GUARD), member.group("web-2", tags=GUARD)
    own = cloudtrail.assumed_role("sg-sentry-member", "sg-sentry-6b1c0f7e-restore", account=MEMBER_B)
    look_alike = cloudtrail.assumed_role("sg-sentry-member", "mallory", account=MEMBER_B)

    mine = invoke_handler(member.open_ssh(group, identity=own), tmp_path, **central_env(world))
    assert mine["outcome"] == "own-change" and SSH_WORLD_RULE in member.rules(group)
    assert world.messages() == []

    # The role's name is not enough: a session the sentry did not name is judged like any other.
    theirs = invoke_handler(member.open_ssh(other, identity=look_alike), tmp_path, **central_env(world))
    assert theirs["outcome"] == "reverted" and SSH_WORLD_RULE not in member.rules(other)


def test_a_record_that_arrived_as_another_account_is_refused_and_changes_nothing(world: World, tmp_path: Path) -> None:
    member = in_account(MEMBER_B, REGION)
    group = member.group(tags=GUARD)
    event = member.open_ssh(group)
    event["account"] = CENTRAL  # the envelope and the record disagree on where the call was made

    answer = invoke_handler(event, tmp_path, **central_env(world))

    assert answer["outcome"] == "not-understood"
    assert SSH_WORLD_RULE in member.rules(group) and sessions_in(MEMBER_B) == []
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: could not evaluate a security-group change"
    assert document["summary"] == "not-evaluated" and "arrived as" in document["problem"]


def test_an_approved_rule_removed_in_a_member_account_is_restored_from_the_table(world: World, tmp_path: Path) -> None:
    member = in_account(MEMBER_B, OTHER_REGION)
    group = member.group(tags=GUARD)
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    member.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[https])
    approved = baseline_table(world)
    rules = tuple(rule_from_security_group_rule(r) for r in _rules_of(member, group))
    approved.put(Place(MEMBER_B, OTHER_REGION), [ApprovedGroup(group, OTHER_REGION, "web-prod", rules)], "now")
    params = {"GroupId": group, "IpPermissions": [https]}
    _, removed = cloudtrail.apply(member.ec2, "RevokeSecurityGroupIngress", **params)
    who = cloudtrail.assumed_role("developer", "mallory", account=MEMBER_B)
    record = cloudtrail.record(
        "RevokeSecurityGroupIngress", params, removed, region=OTHER_REGION, identity=who, account=MEMBER_B
    )

    answer = invoke_handler(
        cloudtrail.eventbridge(record),
        tmp_path,
        **central_env(world, SENTRY_MODE="lockdown", SENTRY_BASELINE_TABLE=TABLE),
    )

    assert answer["outcome"] == "restored"
    assert "tcp 443 from 10.0.0.0/8, ingress" in member.rules(group)


def baseline_table(world: World) -> BaselineTable:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "place", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "place", "AttributeType": "S"},
            {"AttributeName": "item", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return BaselineTable(dynamodb, TABLE)


def _rules_of(place: Account, group_id: str) -> list[dict[str, Any]]:
    found = place.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return list(found["SecurityGroupRules"])


def planted(accounts: tuple[str, ...], regions: tuple[str, ...]) -> dict[tuple[str, str], tuple[Account, str]]:
    """A guarded group opened to the world in each place, with no event: drift only a sweep finds."""
    found = {}
    for account in accounts:
        for region in regions:
            place = in_account(account, region)
            group = place.group(tags=GUARD)
            place.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_WORLD])
            found[(account, region)] = (place, group)
    return found


ORGANIZATION = (CENTRAL, MEMBER_B, MEMBER_C)
REGIONS = (REGION, OTHER_REGION)


def round_env(world: World, **more: str) -> dict[str, str]:
    return central_env(
        world, SENTRY_ACCOUNTS=",".join(ORGANIZATION), SENTRY_REGIONS=",".join(REGIONS), AWS_REGION=REGION, **more
    )


def test_one_sweep_round_finds_the_drift_planted_in_three_accounts_and_two_regions(world: World) -> None:
    drift = planted(ORGANIZATION, REGIONS)

    result = sweep_round(round_env(world))

    assert [str(p.place) for p in result.places] == sorted(f"{a}/{r}" for a, r in drift)
    for (account, region), (place, group) in drift.items():
        assert SSH_WORLD_RULE not in place.rules(group), f"{account}/{region} still open"
    # One message for the round, naming every place.
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry sweep: found something in 6 of 6 account-regions"
    assert sorted(p["place"] for p in document["places"]) == sorted(f"{a}/{r}" for a, r in drift)
    (email,) = world.emails()
    assert all(f"== {account}" in email for account in ORGANIZATION)


def test_a_round_fanned_out_through_the_queue_sweeps_every_place_and_sends_one_summary(world: World) -> None:
    drift = planted(ORGANIZATION, REGIONS)
    baseline_table(world)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="sg-sentry-sweep")["QueueUrl"]
    env = round_env(world, SENTRY_SWEEP_QUEUE="sg-sentry-sweep", SENTRY_BASELINE_TABLE=TABLE)

    queued = scheduled_round(env)
    assert queued["outcome"] == "queued" and queued["places"] == 6
    # The workers: one message each, in whatever order SQS hands them out.
    bodies = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [message["Body"] for message in batch]
    assert len(bodies) == 6
    for number, body in enumerate(bodies, start=1):
        sweep_message(body, 1, env)
        assert len(world.messages()) == (1 if number == 6 else 0), "the summary comes with the last place"
    sweep_message(bodies[0], 2, env)  # SQS may deliver a message twice: counted once, no second summary

    for (account, region), (place, group) in drift.items():
        assert SSH_WORLD_RULE not in place.rules(group), f"{account}/{region} still open"
    assert world.messages() == []
    (email,) = world.emails()
    assert "found something in 6 of 6 account-regions" in email


def test_a_place_that_cannot_be_entered_fails_on_each_attempt_and_is_counted_on_the_last(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted((CENTRAL,), (REGION,))
    baseline_table(world)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.create_queue(QueueName="sg-sentry-sweep")
    env = round_env(world, SENTRY_SWEEP_QUEUE="sg-sentry-sweep", SENTRY_BASELINE_TABLE=TABLE)
    env["SENTRY_ACCOUNTS"], env["SENTRY_REGIONS"] = f"{CENTRAL},{MEMBER_B}", REGION
    scheduled_round(env)
    queue = sqs.get_queue_url(QueueName="sg-sentry-sweep")["QueueUrl"]
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    member_body = next(body for body in bodies if MEMBER_B in body)
    central_body = next(body for body in bodies if CENTRAL in body)
    sweep_message(central_body, 1, env)

    from chalicelib.adapters import boto

    def refused(self: object, account: str, session: str, role: str) -> object:
        raise AwsError(
            f"could not assume arn:aws:iam::{account}:role/{role}: AccessDenied: not trusted", "AccessDenied"
        )

    monkeypatch.setattr(boto.BotoAws, "acting_in", refused)
    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match=f"attempt {attempt} of 3"):
            sweep_message(member_body, attempt, env)
        assert world.messages() == []
    with pytest.raises(RuntimeError, match="the last attempt"):
        sweep_message(member_body, 3, env)

    ((subject, document),) = world.messages()
    assert subject == "sg-sentry sweep: FAILED in 1 account-region, found something in 2 of 2 account-regions"
    (failed,) = [p for p in document["places"] if p["summary"] == "failed"]
    assert failed["place"] == f"{MEMBER_B}/{REGION}" and "AccessDenied" in failed["problem"]


def test_a_role_named_like_the_member_role_is_nobodys_pass_where_the_sentry_never_uses_it(
    world: World, tmp_path: Path
) -> None:
    # Where it never acts through the member role (a single account's deployment; the deployment's own
    # account), a session of a role by that name, whatever its session's name, is judged like any other.
    look_alike = cloudtrail.assumed_role("sg-sentry-member", "sg-sentry-6b1c0f7e", account=CENTRAL)
    home = in_account(CENTRAL, REGION)
    alone, central = home.group("alone", tags=GUARD), home.group("central", tags=GUARD)

    single = {"SENTRY_TOPIC_ARN": world.topic_arn, "SENTRY_MODE": "internet", "SENTRY_GROUP_TAG": "sg-sentry=guard"}
    assert invoke_handler(home.open_ssh(alone, identity=look_alike), tmp_path, **single)["outcome"] == "reverted"
    answer = invoke_handler(home.open_ssh(central, identity=look_alike), tmp_path, **central_env(world))
    assert answer["outcome"] == "reverted"
    assert SSH_WORLD_RULE not in home.rules(alone) and SSH_WORLD_RULE not in home.rules(central)


def test_the_handler_takes_its_account_from_lambdas_context_without_asking_sts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import on_security_group_change
    from tests.conftest import DEPLOYED_CALLS

    member = in_account(MEMBER_B, REGION)
    group = member.group(tags=GUARD)
    event = member.open_ssh(group)
    DEPLOYED_CALLS.clear()

    class Context:
        invoked_function_arn = f"arn:aws:lambda:{REGION}:{CENTRAL}:function:sg-sentry-org-on_security_group_change"

    with pytest.MonkeyPatch.context() as patch:
        for name, value in central_env(world).items():
            patch.setenv(name, value)
        answer = on_security_group_change(event, Context())

    assert answer["outcome"] == "reverted" and SSH_WORLD_RULE not in member.rules(group)
    calls = [operation for _, operation, _ in DEPLOYED_CALLS]
    assert "GetCallerIdentity" not in calls and calls[0] == "AssumeRole"
    # Its metrics are the member account's, where it acted (docs/how-it-decides.md, "Metrics").
    (decision,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (decision["outcome"], decision["Account"], decision["Reverted"]) == ("reverted", MEMBER_B, 1)


def test_a_round_still_open_when_the_next_starts_is_closed_naming_the_places_that_never_reported(
    world: World,
) -> None:
    planted((CENTRAL, MEMBER_B), (REGION,))
    baseline_table(world)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="sg-sentry-sweep")["QueueUrl"]
    env = round_env(world, SENTRY_SWEEP_QUEUE="sg-sentry-sweep", SENTRY_BASELINE_TABLE=TABLE)
    env["SENTRY_ACCOUNTS"], env["SENTRY_REGIONS"] = f"{CENTRAL},{MEMBER_B}", REGION
    first = scheduled_round(env)["round"]
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    # One worker reports; the other times out on every attempt (its message ends in the dead-letter queue).
    sweep_message(next(body for body in bodies if CENTRAL in body), 1, env)
    assert world.messages() == []

    second = scheduled_round(env)["round"]

    ((subject, document),) = world.messages()
    assert document["round"] == first != second
    assert subject == "sg-sentry sweep: FAILED in 1 account-region, found something in 2 of 2 account-regions"
    (never,) = [place for place in document["places"] if place["summary"] == "failed"]
    assert never["place"] == f"{MEMBER_B}/{REGION}" and "never reported" in never["problem"]
    # The late worker of the closed round counts into nothing: no second summary for it.
    sweep_message(next(body for body in bodies if MEMBER_B in body), 3, env)
    assert world.messages() == []


def test_a_record_that_names_no_account_is_acted_on_nowhere_when_more_than_one_is_guarded(
    world: World, tmp_path: Path
) -> None:
    member = in_account(MEMBER_B, REGION)
    group = member.group(tags=GUARD)
    event = member.open_ssh(group)
    event["account"] = ""
    del event["detail"]["recipientAccountId"]

    answer = invoke_handler(event, tmp_path, **central_env(world))

    assert answer["outcome"] == "not-understood" and SSH_WORLD_RULE in member.rules(group)
    ((_, document),) = world.messages()
    assert document["summary"] == "not-evaluated" and "names no account" in document["problem"]


def test_the_deployments_own_account_is_guarded_even_when_the_organization_cannot_be_listed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.organizations import Organization

    def refused(self: Organization) -> dict[str, str]:
        raise AwsError("AccessDenied: not a delegated administrator", "AccessDenied")

    monkeypatch.setattr(Organization, "_list", refused)
    home = in_account(CENTRAL, REGION)
    group = home.group(tags=GUARD)

    answer = invoke_handler(home.open_ssh(group), tmp_path, **central_env(world, SENTRY_ACCOUNTS="*"))

    assert answer["outcome"] == "reverted" and SSH_WORLD_RULE not in home.rules(group)
    member = in_account(MEMBER_B, REGION)
    theirs = member.group(tags=GUARD)
    with pytest.raises(Exception, match="not a delegated administrator"):
        invoke_handler(member.open_ssh(theirs), tmp_path, **central_env(world, SENTRY_ACCOUNTS="*"))
    assert SSH_WORLD_RULE in member.rules(theirs)  # a member account is only entered once known to be guarded
