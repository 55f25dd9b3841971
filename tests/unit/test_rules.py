"""Rules: normalization, the text people read, and the boto3 converters."""

from __future__ import annotations

import pytest

from chalicelib.domain.rules import (
    Direction,
    Rule,
    Source,
    SourceKind,
    normalize_protocol,
    rule_from_security_group_rule,
    rules_from_ip_permission,
    to_ip_permissions,
)

INGRESS, EGRESS = Direction.INGRESS, Direction.EGRESS


def cidr(value: str) -> Source:
    return Source(SourceKind.CIDR_IPV6 if ":" in value else SourceKind.CIDR_IPV4, value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tcp", "tcp"),
        ("TCP", "tcp"),
        ("6", "tcp"),
        (6, "tcp"),
        ("17", "udp"),
        ("1", "icmp"),
        ("58", "icmpv6"),
        ("-1", "-1"),
        (-1, "-1"),
        ("all", "-1"),
        ("50", "50"),
        ("047", "47"),
    ],
)
def test_protocols_arrive_as_names_or_numbers(raw: object, expected: str) -> None:
    assert normalize_protocol(raw) == expected


@pytest.mark.parametrize("raw", ["tcpx", "256", "", "1.5", None])
def test_unknown_protocols_are_rejected(raw: object) -> None:
    with pytest.raises(ValueError, match="unknown IP protocol"):
        normalize_protocol(raw)


def test_all_traffic_ignores_logged_ports() -> None:
    # Old console records log -1 with 0-65535; newer ones log no ports at all.
    with_ports = Rule.build(INGRESS, "-1", 0, 65535, cidr("0.0.0.0/0"))
    without = Rule.build(INGRESS, "-1", None, None, cidr("0.0.0.0/0"))
    assert with_ports == without
    assert (without.from_port, without.to_port) == (None, None)


def test_ports_given_as_text_are_numbers() -> None:
    assert Rule.build(INGRESS, "tcp", "443", "443", cidr("0.0.0.0/0")).from_port == 443


@pytest.mark.parametrize(
    ("protocol", "low", "high"),
    [("tcp", 100, 20), ("udp", -1, 53), ("tcp", 0, 70000), ("tcp", None, 22), ("tcp", True, 22), ("icmp", 300, 0)],
)
def test_bad_port_ranges_are_rejected(protocol: str, low: object, high: object) -> None:
    with pytest.raises(ValueError):
        Rule.build(INGRESS, protocol, low, high, cidr("0.0.0.0/0"))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (SourceKind.CIDR_IPV4, "10.0.0.0/33"),
        (SourceKind.CIDR_IPV4, "::/0"),
        (SourceKind.CIDR_IPV6, "0.0.0.0/0"),
        (SourceKind.PREFIX_LIST, "sg-123"),
        (SourceKind.SECURITY_GROUP, "pl-123"),
        (SourceKind.CIDR_IPV4, ""),
    ],
)
def test_sources_validate_themselves(kind: SourceKind, value: str) -> None:
    with pytest.raises(ValueError):
        Source(kind, value)


def test_cidrs_are_equal_as_networks_but_kept_verbatim() -> None:
    upper, lower = Source(SourceKind.CIDR_IPV6, "2001:DB8::/32"), Source(SourceKind.CIDR_IPV6, "2001:db8::/32")
    assert upper == lower and hash(upper) == hash(lower)
    assert upper.value == "2001:DB8::/32"  # what AWS was given, for revoking by permission
    assert Source(SourceKind.CIDR_IPV4, "10.0.0.0/8") != Source(SourceKind.CIDR_IPV4, "10.0.0.0/16")


def test_host_bits_are_accepted_as_aws_does() -> None:
    assert str(Source(SourceKind.CIDR_IPV4, "198.51.100.7/0").network) == "0.0.0.0/0"


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (Rule.build(INGRESS, "tcp", 22, 22, cidr("0.0.0.0/0")), "tcp 22 from 0.0.0.0/0, ingress"),
        (Rule.build(INGRESS, "udp", 1000, 2000, cidr("::/0")), "udp 1000-2000 from ::/0, ingress"),
        (Rule.build(INGRESS, "tcp", 0, 65535, cidr("10.0.0.0/8")), "tcp all ports from 10.0.0.0/8, ingress"),
        (Rule.build(EGRESS, "-1", None, None, cidr("0.0.0.0/0")), "all traffic to 0.0.0.0/0, egress"),
        (Rule.build(INGRESS, "icmp", 8, -1, cidr("0.0.0.0/0")), "icmp type 8 all codes from 0.0.0.0/0, ingress"),
        (Rule.build(INGRESS, "icmpv6", -1, -1, cidr("::/0")), "icmpv6 all types from ::/0, ingress"),
        (Rule.build(INGRESS, "50", None, None, cidr("192.0.2.1/32")), "protocol 50 from 192.0.2.1/32, ingress"),
        (
            Rule.build(INGRESS, "tcp", 5432, 5432, Source(SourceKind.SECURITY_GROUP, "sg-0abc1234", "444455556666")),
            "tcp 5432 from security group sg-0abc1234 (account 444455556666), ingress",
        ),
        (
            Rule.build(EGRESS, "tcp", 443, 443, Source(SourceKind.PREFIX_LIST, "pl-0123abcd")),
            "tcp 443 to prefix list pl-0123abcd, egress",
        ),
    ],
    ids=["ssh", "udp-range", "all-ports", "all-traffic", "icmp", "icmpv6-all", "esp", "group", "prefix-list"],
)
def test_rules_read_in_human_terms(rule: Rule, text: str) -> None:
    assert str(rule) == text


def test_identity_ignores_description_and_rule_id() -> None:
    a = Rule.build(INGRESS, "tcp", 22, 22, cidr("0.0.0.0/0"), "one", "sgr-1")
    b = Rule.build(INGRESS, "tcp", 22, 22, cidr("0.0.0.0/0"), "two", "sgr-2")
    assert a == b and hash(a) == hash(b)
    assert a != Rule.build(EGRESS, "tcp", 22, 22, cidr("0.0.0.0/0"))


PERMISSION = {
    "IpProtocol": "tcp",
    "FromPort": 8080,
    "ToPort": 8081,
    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}, {"CidrIp": "10.0.0.0/8"}],
    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
    "PrefixListIds": [{"PrefixListId": "pl-0123abcd"}],
    "UserIdGroupPairs": [{"GroupId": "sg-0abc1234", "UserId": "444455556666"}],
}


def test_a_permission_expands_to_one_rule_per_source() -> None:
    rules = rules_from_ip_permission(PERMISSION, INGRESS)
    assert [str(rule.source) for rule in rules] == [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "::/0",
        "prefix list pl-0123abcd",
        "security group sg-0abc1234 (account 444455556666)",
    ]
    assert rules[0].description == "web"
    assert {(rule.protocol, rule.from_port, rule.to_port) for rule in rules} == {("tcp", 8080, 8081)}


def test_boto3_round_trip_keeps_every_rule() -> None:
    rules = [
        *rules_from_ip_permission(PERMISSION, INGRESS),
        Rule.build(INGRESS, "-1", None, None, cidr("0.0.0.0/0")),
        Rule.build(INGRESS, "icmp", 3, 4, cidr("192.0.2.0/24")),
    ]
    permissions = to_ip_permissions(rules)
    assert len(permissions) == 3  # one per protocol and port range
    back = [rule for permission in permissions for rule in rules_from_ip_permission(permission, INGRESS)]
    assert set(back) == set(rules) and len(back) == len(rules)
    all_traffic = next(p for p in permissions if p["IpProtocol"] == "-1")
    assert "FromPort" not in all_traffic  # boto3 shape: no ports for all traffic


def test_revoke_shape_leaves_descriptions_out() -> None:
    permissions = to_ip_permissions(rules_from_ip_permission(PERMISSION, INGRESS))
    assert permissions[0]["IpRanges"][0] == {"CidrIp": "0.0.0.0/0"}


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (
            {"IsEgress": False, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"},
            "tcp 22 from 0.0.0.0/0, ingress",
        ),
        (
            {"IsEgress": True, "IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv6": "::/0"},
            "all traffic to ::/0, egress",
        ),
        (
            {"IsEgress": False, "IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "PrefixListId": "pl-0123abcd"},
            "tcp 1-2 from prefix list pl-0123abcd, ingress",
        ),
        (
            {
                "IsEgress": False,
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "ReferencedGroupInfo": {"GroupId": "sg-0abc1234", "UserId": "444455556666"},
            },
            "udp 53 from security group sg-0abc1234 (account 444455556666), ingress",
        ),
    ],
    ids=["ipv4", "ipv6-egress", "prefix-list", "group"],
)
def test_described_rules_are_read_with_their_ids(item: dict[str, object], text: str) -> None:
    rule = rule_from_security_group_rule({**item, "SecurityGroupRuleId": "sgr-0123", "Description": "d"})
    assert str(rule) == text
    assert (rule.rule_id, rule.description) == ("sgr-0123", "d")


def test_a_described_rule_without_a_source_is_rejected() -> None:
    with pytest.raises(ValueError, match="no source"):
        rule_from_security_group_rule({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "SecurityGroupRuleId": "x"})
