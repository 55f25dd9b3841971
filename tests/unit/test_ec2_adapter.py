"""The EC2 adapter against answers moto does not give: botocore's Stubber plays real EC2."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.drift import Fix, Step
from chalicelib.domain.groups import GroupRules, RevokeStatus
from chalicelib.domain.outcome import GroupOutcome, Outcome, RuleOutcome
from chalicelib.domain.policy import Mode
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind
from chalicelib.usecases.remedy import carry_out, check

GROUP = "sg-0a1b2c3d4e5f60718"
V4 = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"))
V6 = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV6, "::/0"))


def carried_out(steps: list[Step], group_id: str, groups: SecurityGroups, dry_run: bool) -> list[RuleOutcome]:
    """Carry out the steps and check them, as the event path and the sweep both do."""
    done = carry_out(steps, group_id, groups, dry_run)
    (checked,) = check([GroupOutcome(group_id, None, Mode.INTERNET, dry_run, tuple(done))], groups)
    return list(checked.rules)


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


STILL_THERE_V6 = {
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
}


def test_a_rule_still_there_after_a_successful_revoke_is_a_failure(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    stub.add_response("revoke_security_group_ingress", {"Return": True})
    stub.add_response("describe_security_group_rules", STILL_THERE_V6)
    # Still there by its definition: revoked once more, by the ID the read gave it; and still there.
    stub.add_response(
        "revoke_security_group_ingress", {"Return": True}, {"GroupId": GROUP, "SecurityGroupRuleIds": ["sgr-9"]}
    )
    stub.add_response("describe_security_group_rules", STILL_THERE_V6)
    steps = [Step(Fix.REVOKE, rule, "lockdown") for rule in (V4, V6)]
    with stub:
        results = carried_out(steps, GROUP, groups, dry_run=False)
    assert [(str(r.rule.source), r.outcome) for r in results] == [
        ("0.0.0.0/0", Outcome.REVERTED),
        ("::/0", Outcome.FAILED),
    ]
    assert results[1].error == "EC2 answered that it revoked the rule by its ID, but the rule is still there"
    stub.assert_no_pending_responses()


def test_a_rule_not_matched_by_its_definition_is_revoked_by_the_id_read_afterwards(
    stubbed: tuple[SecurityGroups, Stubber],
) -> None:
    # "Already gone" is checked like a revert: EC2 did not match the rule, yet it is there (found by fuzzing
    # against moto: a rule authorized as protocol 6 is not matched by a revoke of tcp).
    groups, stub = stubbed
    stub.add_client_error("revoke_security_group_ingress", "InvalidPermission.NotFound", "no such rule")
    stub.add_response("describe_security_group_rules", STILL_THERE_V6)
    stub.add_response(
        "revoke_security_group_ingress",
        {
            "Return": True,
            "RevokedSecurityGroupRules": [_revoked("sgr-9", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv6="::/0")],
        },
        {"GroupId": GROUP, "SecurityGroupRuleIds": ["sgr-9"]},
    )
    with stub:
        (result,) = carried_out([Step(Fix.REVOKE, V6, "lockdown")], GROUP, groups, dry_run=False)
    stub.assert_no_pending_responses()
    assert (result.outcome, result.rule.rule_id, result.error) == (Outcome.REVERTED, "sgr-9", None)
    assert "revoked by its ID" in result.reason


def test_already_gone_is_believed_only_once_the_group_is_read(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    recorded = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-1")
    stub.add_client_error("revoke_security_group_ingress", "InvalidPermission.NotFound", "no such rule")
    # The record's rule was narrowed by its author before the sentry came: same ID, another definition.
    narrowed = {"SecurityGroupRuleId": "sgr-1", "GroupId": GROUP, "IsEgress": False, "IpProtocol": "tcp"}
    narrowed |= {"FromPort": 22, "ToPort": 22, "CidrIpv4": "10.0.0.0/8"}
    stub.add_response("describe_security_group_rules", {"SecurityGroupRules": [narrowed]})
    with stub:
        (result,) = carried_out([Step(Fix.REVOKE, recorded, "internet")], GROUP, groups, dry_run=False)
    stub.assert_no_pending_responses()
    assert result.outcome is Outcome.SUPERSEDED
    assert result.reason == "rule sgr-1 was changed since to tcp 22 from 10.0.0.0/8, ingress, which was left as it is"


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
    # moto never paginates; EC2 does (1,000 items a page, as asked) and takes at most 200 values a filter.
    from chalicelib.domain.policy import GroupScope

    groups, stub = stubbed
    ids = [f"sg-{n:017x}" for n in range(201)]
    first, second = ids[:200], ids[200:]
    tag = [{"Name": "tag:sg-sentry", "Values": ["guard"]}]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    everywhere = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    stub.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": [
                {"GroupId": ids[0], "GroupName": "a", "IpPermissions": [ssh], "IpPermissionsEgress": [everywhere]}
            ],
            "NextToken": "page-2",
        },
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
        found = groups.guarded_groups_with_rules(GroupScope(tag_key="sg-sentry", tag_value="guard"))
        rules = groups.rules_by_group(ids)
    stub.assert_no_pending_responses()
    assert [(g.info.group_id, [str(rule) for rule in g.rules.rules]) for g in found] == [
        (ids[0], ["tcp 22 from 0.0.0.0/0, ingress", "all traffic to 0.0.0.0/0, egress"]),
        (ids[1], []),
    ]
    assert [rule.rule_id for rule in rules[ids[0]].rules] == ["sgr-1", "sgr-2"]
    assert [rule.rule_id for rule in rules[ids[200]].rules] == ["sgr-3"]
    assert rules[ids[5]] == GroupRules()  # a group with no rules is still there, judged as having none


def _revoked(rule_id: str, **definition: object) -> dict[str, object]:
    return {"SecurityGroupRuleId": rule_id, "GroupId": GROUP, "IsEgress": False} | definition


def _no_read(group_id: str) -> list[Rule]:
    pytest.fail(f"the group {group_id} was read back although EC2's answer proved the change")


def test_rules_the_answer_names_as_revoked_are_proven_and_not_read_back(
    stubbed: tuple[SecurityGroups, Stubber],
) -> None:
    # Current EC2 lists what it revoked: no read afterwards (carry_out would swallow a stub's error, so the
    # read itself fails the test).
    groups, stub = stubbed
    groups.group_rules = _no_read  # type: ignore[method-assign]
    by_id = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-1")
    stub.add_response(
        "revoke_security_group_ingress",
        {
            "Return": True,
            "RevokedSecurityGroupRules": [
                _revoked("sgr-1", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv4="0.0.0.0/0")
            ],
        },
        {"GroupId": GROUP, "SecurityGroupRuleIds": ["sgr-1"]},
    )
    with stub:
        results = carried_out([Step(Fix.REVOKE, by_id, "internet", by_rule_id=True)], GROUP, groups, dry_run=False)
    assert [(r.outcome, r.shown) for r in results] == [(Outcome.REVERTED, True)]
    stub.assert_no_pending_responses()


def test_by_permission_the_answer_proves_each_rule_by_its_definition(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    group_rule = Rule.build(Direction.INGRESS, "tcp", 5432, 5432, Source(SourceKind.SECURITY_GROUP, "sg-0ffee"))
    stub.add_response(
        "revoke_security_group_ingress",
        {
            "Return": True,
            "RevokedSecurityGroupRules": [
                _revoked("sgr-7", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv6="::/0"),
                _revoked("sgr-8", IpProtocol="tcp", FromPort=5432, ToPort=5432, ReferencedGroupId="sg-0ffee"),
            ],
        },
    )
    with stub:
        results = groups.revoke(GROUP, Direction.INGRESS, [V4, V6, group_rule])
    # 0.0.0.0/0 is not named: revoked, but left for the read to prove. The others get the IDs the answer gave.
    assert [(str(r.rule.source), r.status, r.shown, r.revoked_id) for r in results] == [
        ("0.0.0.0/0", RevokeStatus.REVOKED, False, None),
        ("::/0", RevokeStatus.REVOKED, True, "sgr-7"),
        ("security group sg-0ffee", RevokeStatus.REVOKED, True, "sgr-8"),
    ]


def test_a_partly_named_answer_reads_back_only_to_check_the_rest(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    named = _revoked("sgr-7", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv6="::/0")
    stub.add_response("revoke_security_group_ingress", {"Return": True, "RevokedSecurityGroupRules": [named]})
    # The read afterwards still shows ::/0 (say, re-added at once): named in the answer, so not re-judged;
    # 0.0.0.0/0 is unnamed and still there, so it is a failure.
    still = [{**named, "SecurityGroupRuleId": "sgr-9"}, _revoked("sgr-6", IpProtocol="tcp", FromPort=22, ToPort=22)]
    still[1]["CidrIpv4"] = "0.0.0.0/0"
    stub.add_response("describe_security_group_rules", {"SecurityGroupRules": still})
    with stub:
        results = carried_out([Step(Fix.REVOKE, rule, "lockdown") for rule in (V4, V6)], GROUP, groups, dry_run=False)
    assert [(str(r.rule.source), r.outcome) for r in results] == [
        ("0.0.0.0/0", Outcome.FAILED),
        ("::/0", Outcome.REVERTED),
    ]
    stub.assert_no_pending_responses()


def test_an_unreadable_entry_in_the_answer_only_costs_the_read(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    stub.add_response(
        "revoke_security_group_ingress",
        {"Return": True, "RevokedSecurityGroupRules": [_revoked("sgr-1", IpProtocol="tcp", CidrIpv4="not-a-cidr")]},
    )
    with stub:
        (result,) = groups.revoke(GROUP, Direction.INGRESS, [V4])
    assert (result.status, result.shown) == (RevokeStatus.REVOKED, False)


def test_a_restore_the_answer_names_is_proven(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    https = Rule.build(Direction.INGRESS, "tcp", 443, 443, Source(SourceKind.CIDR_IPV4, "10.0.0.0/8"), "approved")
    created = _revoked("sgr-5", IpProtocol="tcp", FromPort=443, ToPort=443, CidrIpv4="10.0.0.0/8")
    stub.add_response("authorize_security_group_ingress", {"Return": True, "SecurityGroupRules": [created]})
    groups.group_rules = _no_read  # type: ignore[method-assign]
    with stub:
        results = carried_out([Step(Fix.RESTORE, https, "approved")], GROUP, groups, dry_run=False)
    assert [(r.outcome, r.shown) for r in results] == [(Outcome.RESTORED, True)]
    stub.assert_no_pending_responses()


def test_an_egress_rule_is_proven_only_by_an_egress_entry(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    egress = Rule.build(Direction.EGRESS, "-1", None, None, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"))
    everywhere = {"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}
    stub.add_response(
        "revoke_security_group_egress",
        {"Return": True, "RevokedSecurityGroupRules": [_revoked("sgr-1", **everywhere)]},  # IsEgress false
    )
    stub.add_response(
        "revoke_security_group_egress",
        {"Return": True, "RevokedSecurityGroupRules": [_revoked("sgr-2", **everywhere) | {"IsEgress": True}]},
    )
    with stub:
        (as_ingress,) = groups.revoke(GROUP, Direction.EGRESS, [egress])
        (as_egress,) = groups.revoke(GROUP, Direction.EGRESS, [egress])
    assert (as_ingress.shown, as_ingress.revoked_id) == (False, None)
    assert (as_egress.shown, as_egress.revoked_id) == (True, "sgr-2")


def test_a_revoke_by_id_is_proven_only_by_its_own_id(stubbed: tuple[SecurityGroups, Stubber]) -> None:
    groups, stub = stubbed
    rule = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-1")
    named = _revoked("sgr-9", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv4="0.0.0.0/0")
    stub.add_response("revoke_security_group_ingress", {"Return": True, "RevokedSecurityGroupRules": [named]})
    with stub:
        (result,) = groups.revoke(GROUP, Direction.INGRESS, [rule])
    # The same definition under another ID is another rule: this one still has to be read back.
    assert (result.status, result.shown, result.revoked_id) == (RevokeStatus.REVOKED, False, None)
