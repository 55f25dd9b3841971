"""The handler against moto: the group's real rules afterwards, for every shape CloudTrail sends."""

from __future__ import annotations

import contextlib

import pytest

from localaws import cloudtrail
from localaws.ec2_answers import revokes_name_their_rules
from tests.conftest import DEPLOYED_CALLS
from tests.functional.conftest import REGION, Invoke, World, ssh_from

SSH_WORLD = "tcp 22 from 0.0.0.0/0, ingress"
DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"


def test_ssh_opened_to_the_world_is_reverted_and_nothing_else_is_touched(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/16", 443)])
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    assert SSH_WORLD in world.rules(group)

    answer = sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {"tcp 443 from 10.0.0.0/16, ingress", DEFAULT_EGRESS}
    assert answer == {
        "outcome": "reverted",
        "event_id": event["detail"]["eventID"],
        "group_id": group,
        "rules": {"reverted": 1},
    }


def test_only_the_offending_sources_of_one_call_are_reverted(world: World, sentry: Invoke) -> None:
    group = world.group()
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.1.0.0/16"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        },
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=permissions)

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert world.rules(group) == {
        "tcp 22 from 10.1.0.0/16, ingress",
        "tcp 443 from 0.0.0.0/0, ingress",
        DEFAULT_EGRESS,
    }


@pytest.mark.parametrize("with_rule_set", [True, False], ids=["rule-ids", "permissions"])
def test_flat_form_is_reverted(world: World, sentry: Invoke, with_rule_set: bool) -> None:
    group = world.group()
    params = {"GroupId": group, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}
    event = world.change("AuthorizeSecurityGroupIngress", {"with_rule_set": with_rule_set}, **params)
    assert event["detail"]["requestParameters"]["ipPermissions"] == {}
    assert "cidrIp" in event["detail"]["requestParameters"]

    sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}


@pytest.mark.parametrize("with_rule_set", [True, False], ids=["rule-ids", "permissions"])
def test_every_source_kind_is_reverted_in_lockdown(world: World, sentry: Invoke, with_rule_set: bool) -> None:
    group, peer = world.group(), world.group("peer")
    prefix_list = world.ec2.create_managed_prefix_list(
        PrefixListName="corp", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "192.0.2.0/24"}]
    )["PrefixList"]["PrefixListId"]
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": 8080,
            "ToPort": 8090,
            "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "app"}],
        },
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": prefix_list}]},
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": peer}]},
    ]
    event = world.change(
        "AuthorizeSecurityGroupIngress", {"with_rule_set": with_rule_set}, GroupId=group, IpPermissions=permissions
    )
    assert len(world.rules(group)) == 5

    sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}


@pytest.mark.parametrize("with_rule_set", [True, False], ids=["rule-ids", "permissions"])
def test_egress_all_traffic_without_ports_is_reverted(world: World, sentry: Invoke, with_rule_set: bool) -> None:
    group = world.group()
    world.ec2.revoke_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    permissions = [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "all out"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ]
    event = world.change(
        "AuthorizeSecurityGroupEgress", {"with_rule_set": with_rule_set}, GroupId=group, IpPermissions=permissions
    )
    assert "fromPort" not in event["detail"]["requestParameters"]["ipPermissions"]["items"][0]

    sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == set()


def test_internet_mode_leaves_egress_alone(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupEgress", GroupId=group, IpPermissions=[ssh_from()])
    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")
    assert "tcp 22 to 0.0.0.0/0, egress" in world.rules(group)


def test_icmp_is_reverted_in_lockdown_and_allowed_in_internet_mode(world: World, sentry: Invoke) -> None:
    group = world.group()
    ping = {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    sentry(
        world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ping]),
        SENTRY_GROUP_IDS=group,
        SENTRY_MODE="internet",
    )
    assert "icmp type 8 all codes from 0.0.0.0/0, ingress" in world.rules(group)

    other = world.group("other")
    sentry(world.change("AuthorizeSecurityGroupIngress", GroupId=other, IpPermissions=[ping]), SENTRY_GROUP_IDS=other)
    assert world.rules(other) == {DEFAULT_EGRESS}


@pytest.mark.parametrize("with_rule_set", [True, False], ids=["rule-set", "name-lookup"])
def test_a_group_named_without_its_id_is_found(world: World, sentry: Invoke, with_rule_set: bool) -> None:
    default_vpc = world.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = world.group("legacy-web", vpc_id=default_vpc)
    event = world.change(
        "AuthorizeSecurityGroupIngress",
        {"with_rule_set": with_rule_set},
        GroupName="legacy-web",
        IpPermissions=[ssh_from()],
    )
    assert "groupId" not in event["detail"]["requestParameters"]

    sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}


def test_a_failed_call_changes_nothing_even_when_the_same_rule_exists(world: World, sentry: Invoke) -> None:
    group = world.group()
    # The rule exists legitimately; someone tries to add it again and gets Duplicate.
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])
    error = ("Client.InvalidPermission.Duplicate", "the specified rule already exists")
    record = cloudtrail.record(
        "AuthorizeSecurityGroupIngress", {"GroupId": group, "IpPermissions": [ssh_from()]}, region=REGION, error=error
    )

    sentry(cloudtrail.eventbridge(record), SENTRY_GROUP_IDS=group)

    assert SSH_WORLD in world.rules(group)
    assert world.messages() == []


def test_a_modified_rule_does_not_stay_modified(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])
    event = world.modify(group, world.only_rule_id(group), "tcp", 22, "0.0.0.0/0")
    assert SSH_WORLD in world.rules(group)

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert world.rules(group) == {DEFAULT_EGRESS}


def test_a_modification_the_policy_permits_stays(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])
    event = world.modify(group, world.only_rule_id(group), "tcp", 22, "10.1.0.0/16")

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert world.rules(group) == {"tcp 22 from 10.1.0.0/16, ingress", DEFAULT_EGRESS}


def test_a_modified_egress_rule_is_revoked_as_egress(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.modify(group, world.only_rule_id(group, egress=True), "tcp", 25, "0.0.0.0/0")
    assert world.rules(group) == {"tcp 25 to 0.0.0.0/0, egress"}

    sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == set()


def test_a_modification_changed_again_since_is_left_to_its_own_event(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])
    rule_id = world.only_rule_id(group)
    widened = world.modify(group, rule_id, "tcp", 22, "0.0.0.0/0")
    world.modify(group, rule_id, "tcp", 22, "10.2.0.0/16")  # put right before the sentry saw the first event

    sentry(widened, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert world.rules(group) == {"tcp 22 from 10.2.0.0/16, ingress", DEFAULT_EGRESS}
    ((subject, document),) = world.messages()
    assert document["rules"][0]["outcome"] == "superseded"
    assert "nothing to revert" in subject


def test_a_modified_rule_that_is_gone_is_reported_not_guessed(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])
    rule_id = world.only_rule_id(group)
    event = world.modify(group, rule_id, "tcp", 22, "0.0.0.0/0")
    world.ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[rule_id])

    sentry(event, SENTRY_GROUP_IDS=group)

    ((_, document),) = world.messages()
    assert document["rules"][0]["outcome"] == "already-gone"
    assert document["rules"][0]["rule"] == "tcp 22 from 0.0.0.0/0, direction unknown"
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_duplicate_delivery_is_harmless(world: World, sentry: Invoke) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from(), ssh_from("::/0")])

    sentry(event, SENTRY_GROUP_IDS=group)
    sentry(event, SENTRY_GROUP_IDS=group)  # EventBridge delivers at least once

    assert world.rules(group) == {"tcp 443 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    (_, first), (_, second) = world.messages()
    assert [rule["outcome"] for rule in first["rules"]] == ["reverted", "reverted"]
    assert [rule["outcome"] for rule in second["rules"]] == ["already-gone", "already-gone"]


@pytest.mark.parametrize("with_rule_set", [True, False], ids=["rule-ids", "permissions"])
def test_a_partly_gone_batch_still_reverts_the_rest(world: World, sentry: Invoke, with_rule_set: bool) -> None:
    group = world.group()
    event = world.change(
        "AuthorizeSecurityGroupIngress",
        {"with_rule_set": with_rule_set},
        GroupId=group,
        IpPermissions=[ssh_from(), ssh_from("::/0")],
    )
    world.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])  # someone was faster

    sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}
    ((_, document),) = world.messages()
    assert sorted(rule["outcome"] for rule in document["rules"]) == ["already-gone", "reverted"]


def test_dry_run_changes_nothing_and_says_what_it_would_do(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_DRY_RUN="true")

    assert SSH_WORLD in world.rules(group)
    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry [dry run]: would revert 1 rule on")
    assert document["rules"][0]["outcome"] == "would-revert"
    assert "dry run on: nothing was changed" in document["text"]


def test_an_exempt_principal_changes_stay_and_are_reported_as_allowed(world: World, sentry: Invoke) -> None:
    group = world.group()
    identity = cloudtrail.assumed_role("terraform-ci", "run-42")
    event = world.change(
        "AuthorizeSecurityGroupIngress", {"identity": identity}, GroupId=group, IpPermissions=[ssh_from()]
    )

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_EXEMPT_PRINCIPALS="arn:aws:iam::*:role/terraform-*")

    assert SSH_WORLD in world.rules(group)
    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry: allowed 1 rule on")
    assert document["rules"][0]["outcome"] == "allowed"
    assert "exempt principal" in document["rules"][0]["reason"]


@pytest.mark.parametrize("answer_names_rules", [True, False], ids=["answer-names-rules", "answer-says-true"])
def test_the_revoke_is_read_back_only_when_the_answer_does_not_name_it(
    world: World, sentry: Invoke, answer_names_rules: bool
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    with revokes_name_their_rules() if answer_names_rules else contextlib.nullcontext():
        answer = sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1}
    read_back = ["DescribeSecurityGroupRules"] if not answer_names_rules else []
    # The revoke comes first; the group's name for the report is looked up after it.
    expected = ["RevokeSecurityGroupIngress", *read_back, "DescribeSecurityGroups", "Publish"]
    assert [operation for _, operation, _ in DEPLOYED_CALLS] == expected
