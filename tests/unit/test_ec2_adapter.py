"""The EC2 adapter against answers moto does not give: botocore's Stubber plays real EC2."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.drift import Fix, Step
from chalicelib.ec2 import GroupCache, RevokeStatus, SecurityGroups
from chalicelib.outcome import Outcome
from chalicelib.remedy import carry_out
from chalicelib.rules import Direction, Rule, Source, SourceKind

GROUP = "sg-0a1b2c3d4e5f60718"
V4 = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"))
V6 = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV6, "::/0"))


@pytest.fixture
def stubbed() -> tuple[SecurityGroups, Stubber]:
    client = boto3.client("ec2", region_name="eu-west-1")
    return SecurityGroups(client, GroupCache()), Stubber(client)


def test_unknown_permissions_in_a_successful_answer_are_already_gone(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    # Current EC2 answers a revoke of a missing rule with success and lists it, instead of an error.
    groups, stub = stubbed
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        }
    ]
    unknown = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
    stub.add_response(
        "revoke_security_group_ingress",
        {"Return": True, "UnknownIpPermissions": unknown},
        {"GroupId": GROUP, "IpPermissions": permissions},
    )
    with stub:
        results = groups.revoke(GROUP, Direction.INGRESS, [V4, V6])
    assert [(str(r.rule.source), r.status) for r in results] == [
        ("0.0.0.0/0", RevokeStatus.REVOKED),
        ("::/0", RevokeStatus.ALREADY_GONE),
    ]
    stub.assert_no_pending_responses()


def test_unreadable_unknown_permissions_are_failures_not_successes(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    stub.add_response(
        "revoke_security_group_ingress",
        {
            "Return": True,
            "UnknownIpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "not-a-cidr"}]}
            ],
        },
    )
    with stub:
        (result,) = groups.revoke(GROUP, Direction.INGRESS, [V4])
    assert result.status is RevokeStatus.FAILED and "could not read" in (result.error or "")


def test_return_false_is_a_failure(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    stub.add_response("revoke_security_group_egress", {"Return": False})
    egress = Rule.build(Direction.EGRESS, "-1", None, None, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-1")
    with stub:
        (result,) = groups.revoke(GROUP, Direction.EGRESS, [egress])
    assert (result.status, result.error) == (RevokeStatus.FAILED, "EC2 answered Return=false")


def test_a_batch_by_rule_id_with_one_id_gone_falls_back_to_one_call_per_rule(
    stubbed: tuple[SecurityGroups, Stubber],
) -> None:
    groups, stub = stubbed
    first = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-1")
    second = Rule.build(Direction.INGRESS, "tcp", 23, 23, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-2")
    stub.add_client_error(
        "revoke_security_group_ingress",
        "InvalidSecurityGroupRuleId.NotFound",
        "sgr-2 not found",
        expected_params={"GroupId": GROUP, "SecurityGroupRuleIds": ["sgr-1", "sgr-2"]},
    )
    stub.add_response(
        "revoke_security_group_ingress", {"Return": True}, {"GroupId": GROUP, "SecurityGroupRuleIds": ["sgr-1"]}
    )
    stub.add_client_error(
        "revoke_security_group_ingress",
        "InvalidSecurityGroupRuleId.NotFound",
        "gone",
        expected_params={"GroupId": GROUP, "SecurityGroupRuleIds": ["sgr-2"]},
    )
    with stub:
        results = groups.revoke(GROUP, Direction.INGRESS, [first, second])
    assert [r.status for r in results] == [RevokeStatus.REVOKED, RevokeStatus.ALREADY_GONE]
    stub.assert_no_pending_responses()


def test_a_rule_still_there_after_a_successful_revoke_is_a_failure(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    stub.add_response("revoke_security_group_ingress", {"Return": True})
    stub.add_response(
        "describe_security_group_rules",
        {
            "SecurityGroupRules": [
                {
                    "SecurityGroupRuleId": "sgr-9",
                    "GroupId": GROUP,
                    "IsEgress": False,
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "CidrIpv6": "::/0",
                }
            ]
        },
    )
    steps = [Step(Fix.REVOKE, rule, "lockdown") for rule in (V4, V6)]
    with stub:
        results = carry_out(steps, GROUP, groups, dry_run=False)
    assert [(str(r.rule.source), r.outcome) for r in results] == [
        ("0.0.0.0/0", Outcome.REVERTED),
        ("::/0", Outcome.FAILED),
    ]
    assert results[1].error == "EC2 answered that it revoked the rule, but the rule is still there"
    stub.assert_no_pending_responses()


class _Crashing:
    """A client whose revoke fails in a way botocore does not wrap (moto did so for protocol 0)."""

    class meta:  # mimics botocore's client.meta
        region_name = "eu-west-1"

    def revoke_security_group_ingress(self, **_: object) -> None:
        raise TypeError("int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")


def test_found_by_fuzzing_any_failure_of_the_revoke_call_is_reported_per_rule() -> None:
    hopopt = Rule.build(Direction.INGRESS, "0", None, None, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"))
    (result,) = SecurityGroups(_Crashing(), GroupCache()).revoke(GROUP, Direction.INGRESS, [hopopt])
    assert result.status is RevokeStatus.FAILED and result.error is not None and result.error.startswith("TypeError")


def _rule_item(group: str, rule_id: str, port: int) -> dict[str, object]:
    return {
        "SecurityGroupRuleId": rule_id,
        "GroupId": group,
        "IsEgress": False,
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "CidrIpv4": "0.0.0.0/0",
    }


def test_the_sweeps_reads_follow_every_page_and_filter_200_ids_at_a_time(
    stubbed: tuple[SecurityGroups, Stubber],
) -> None:
    # moto never paginates; EC2 does (1,000 items a page) and takes at most 200 values a filter.
    from chalicelib.policy import GroupScope

    groups, stub = stubbed
    ids = [f"sg-{n:017x}" for n in range(201)]
    first, second = ids[:200], ids[200:]
    tag = [{"Name": "tag:sg-sentry", "Values": ["guard"]}]
    stub.add_response(
        "describe_security_groups",
        {"SecurityGroups": [{"GroupId": ids[0], "GroupName": "a"}], "NextToken": "page-2"},
        {"Filters": tag, "MaxResults": 1000},
    )
    stub.add_response(
        "describe_security_groups",
        {"SecurityGroups": [{"GroupId": ids[1], "GroupName": "b"}]},
        {"Filters": tag, "MaxResults": 1000, "NextToken": "page-2"},
    )
    stub.add_response(
        "describe_security_group_rules",
        {"SecurityGroupRules": [_rule_item(ids[0], "sgr-1", 22)], "NextToken": "more"},
        {"Filters": [{"Name": "group-id", "Values": first}], "MaxResults": 1000},
    )
    stub.add_response(
        "describe_security_group_rules",
        {"SecurityGroupRules": [_rule_item(ids[0], "sgr-2", 23)]},
        {"Filters": [{"Name": "group-id", "Values": first}], "MaxResults": 1000, "NextToken": "more"},
    )
    stub.add_response(
        "describe_security_group_rules",
        {"SecurityGroupRules": [_rule_item(ids[200], "sgr-3", 24)]},
        {"Filters": [{"Name": "group-id", "Values": second}], "MaxResults": 1000},
    )
    with stub:
        found = groups.guarded_groups(GroupScope(tag_key="sg-sentry", tag_value="guard"))
        rules = groups.rules_by_group(ids)
    stub.assert_no_pending_responses()
    assert [group.group_id for group in found] == ids[:2]
    assert [rule.rule_id for rule in rules[ids[0]]] == ["sgr-1", "sgr-2"]
    assert [rule.rule_id for rule in rules[ids[200]]] == ["sgr-3"]
    assert rules[ids[5]] == []  # a group with no rules is still there, judged as having none
