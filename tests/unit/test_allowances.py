"""Time-boxed exceptions and the rule text they name: pure, so every case is a few lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.allowances import Allowance, AllowanceError, granted_on
from chalicelib.domain.baseline import ApprovedGroup, Baseline, BaselineError
from chalicelib.domain.drift import Fix, plan
from chalicelib.domain.policy import Mode, Policy
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind, rule_from_text, rules_from_ip_permission

GROUP = "sg-0a1b2c3d4e5f60718"
REGION = "eu-west-1"
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
SSH = rule_from_text("tcp 22 from 203.0.113.4/32")


def allowance(rule: Rule = SSH, expires: datetime = NOW + timedelta(hours=1), group: str = GROUP) -> Allowance:
    granted_at = expires - timedelta(hours=2)
    return Allowance("allow-1a2b3c4d", group, REGION, rule, expires, granted_at, "arn:aws:sts::1:x", "INC-42")


@pytest.mark.parametrize(
    "permission",
    [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "udp", "FromPort": 1000, "ToPort": 2000, "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]},
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "PrefixListIds": [{"PrefixListId": "pl-12345678"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "icmpv6", "FromPort": 128, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-12345678", "UserId": "123456789012"}]},
        {"IpProtocol": "50", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "198.51.100.7/32"}]},
    ],
    ids=["tcp", "udp-range-v6", "all-ports-list", "icmp-all", "icmp-type-code", "icmpv6-type", "group", "esp"],
)
@pytest.mark.parametrize("direction", [Direction.INGRESS, Direction.EGRESS])
def test_the_reports_rule_text_reads_back_as_the_same_rule(permission: dict[str, object], direction: Direction) -> None:
    (rule,) = rules_from_ip_permission(permission, direction)
    read = rule_from_text(str(rule))
    assert read == rule and str(read) == str(rule) and read.source.owner == rule.source.owner


def test_without_a_direction_from_is_ingress_and_to_is_egress() -> None:
    assert rule_from_text("tcp 22 from 203.0.113.4/32").direction is Direction.INGRESS
    assert rule_from_text("all traffic to 0.0.0.0/0").direction is Direction.EGRESS
    source = Source(SourceKind.CIDR_IPV4, "203.0.113.4/32")
    assert rule_from_text("TCP  22 FROM 203.0.113.4/32") == Rule.build(Direction.INGRESS, "tcp", 22, 22, source)
    with pytest.raises(ValueError, match="an ingress rule is 'from' its source"):
        rule_from_text("tcp 22 from 203.0.113.4/32, egress")


def test_an_exception_is_valid_until_it_expires_and_only_for_its_group_and_rule() -> None:
    ends = allowance(expires=NOW)
    assert granted_on([ends], GROUP, REGION, NOW - timedelta(seconds=1)).valid == {SSH: ends}
    assert granted_on([ends], GROUP, REGION, NOW).expired == {SSH: ends}  # at the second it expires, it is over
    assert not granted_on([ends], "sg-12345678", REGION, NOW - timedelta(seconds=1))
    assert not granted_on([ends], GROUP, "us-east-1", NOW - timedelta(seconds=1))
    # A later grant of the same rule wins over one that ended.
    later = replace(allowance(), allowance_id="allow-2")
    assert granted_on([ends, later], GROUP, REGION, NOW) == granted_on([later], GROUP, REGION, NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reason": " "}, "needs a reason"),
        ({"expires": NOW - timedelta(hours=3)}, "must last some time"),
        ({"granted_at": NOW - timedelta(days=8)}, "at most 7 days"),
        ({"group_id": "web-prod"}, "not a security group ID"),
    ],
    ids=["no-reason", "ends-before-it-begins", "too-long", "group"],
)
def test_an_exception_that_cannot_be_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(AllowanceError, match=message):
        replace(allowance(), **change)  # type: ignore[arg-type]


def test_a_group_held_to_its_baseline_keeps_an_excepted_rule_and_loses_it_once_expired() -> None:
    approved = rule_from_text("tcp 22 from 10.1.0.0/16")
    entry = ApprovedGroup(GROUP, REGION, "web", (replace(approved, rule_id="sgr-1"),))
    # The approved rule was edited in place into the excepted one: it keeps its ID.
    present = [replace(SSH, rule_id="sgr-1")]
    lockdown = Policy(Mode.LOCKDOWN)

    valid = plan(present, lockdown, entry, granted=granted_on([allowance()], GROUP, REGION, NOW))
    expired = plan(present, lockdown, entry, granted=granted_on([allowance(expires=NOW)], GROUP, REGION, NOW))

    # Not taken for the approved rule modified in place: it stays, and the approved one comes back beside it.
    assert [(s.fix, s.rule) for s in valid] == [(Fix.RESTORE, approved)]
    # Expired: it goes, saying why, and the approved rule comes back.
    assert [(s.fix, s.rule) for s in expired] == [(Fix.REVOKE, SSH), (Fix.RESTORE, approved)]
    assert "exception INC-42 (allow-1a2b3c4d) expired at 2026-12-01 18:00:00 UTC" in expired[0].reason


def test_the_baseline_document_keeps_its_exceptions_and_a_file_without_any_is_unchanged() -> None:
    baseline = Baseline(taken_at="then").with_allowances([allowance()])
    assert Baseline.from_document(baseline.to_document()) == baseline
    assert "allowances" not in Baseline(taken_at="then").to_document()
    document = baseline.to_document()
    document["allowances"][0]["rule"] = "tcp 22 from nowhere"
    with pytest.raises(BaselineError, match="exception 'allow-1a2b3c4d': cannot read rule"):
        Baseline.from_document(document)
