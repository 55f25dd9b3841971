"""Policy: pure decisions, one rule and one actor at a time."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from chalicelib.events import Actor
from chalicelib.policy import GroupScope, Mode, Policy, PortRange, arn_matches, covers, decide, is_internet_source
from chalicelib.rules import Direction, Rule, Source, SourceKind

PERSON = Actor("IAMUser", arn="arn:aws:iam::111122223333:user/dana")
TERRAFORM = Actor(
    "AssumedRole",
    arn="arn:aws:sts::111122223333:assumed-role/terraform-ci/session-1",
    session_issuer_arn="arn:aws:iam::111122223333:role/terraform-ci",
)
LOCKDOWN = Policy()
INTERNET = Policy(mode=Mode.INTERNET)


def ingress(protocol: str, low: object, high: object, source: str, kind: SourceKind | None = None) -> Rule:
    kind = kind or (SourceKind.CIDR_IPV6 if ":" in source else SourceKind.CIDR_IPV4)
    return Rule.build(Direction.INGRESS, protocol, low, high, Source(kind, source))


@pytest.mark.parametrize(
    ("cidr", "internet"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("203.0.113.9/32", True),
        ("10.0.0.0/8", False),
        ("10.20.30.0/24", False),
        ("10.0.0.0/7", True),  # larger than 10/8: reaches 11.0.0.0/8
        ("172.16.0.0/12", False),
        ("172.32.0.0/16", True),  # just past 172.16/12: a string prefix check would say internal
        ("192.168.1.1/32", False),
        ("100.64.0.0/10", False),
        ("100.128.0.0/10", True),
        ("127.0.0.1/32", False),
        ("169.254.169.254/32", False),
        ("fd00::/8", False),
        ("fe80::/64", False),
        ("::1/128", False),
        ("2001:db8::/32", True),
        ("10.1.2.3/8", False),  # host bits, as AWS accepts them
    ],
)
def test_internet_is_defined_by_networks_not_strings(cidr: str, internet: bool) -> None:
    assert is_internet_source(ingress("tcp", 22, 22, cidr)) is internet


def test_trusted_cidrs_are_internal() -> None:
    rule = ingress("tcp", 22, 22, "198.51.100.0/25")
    assert is_internet_source(rule)
    assert not is_internet_source(rule, [ip_network("198.51.100.0/24")])
    assert is_internet_source(ingress("tcp", 22, 22, "198.51.0.0/16"), [ip_network("198.51.100.0/24")])


@pytest.mark.parametrize(
    ("kind", "value"), [(SourceKind.SECURITY_GROUP, "sg-0abc1234"), (SourceKind.PREFIX_LIST, "pl-0abc1234")]
)
def test_group_references_and_prefix_lists_are_internal(kind: SourceKind, value: str) -> None:
    assert not is_internet_source(ingress("tcp", 22, 22, value, kind))
    assert not decide(ingress("tcp", 22, 22, value, kind), PERSON, INTERNET).revert


def test_lockdown_reverts_everything_a_person_adds() -> None:
    for rule in (
        ingress("tcp", 443, 443, "10.0.0.0/8"),
        ingress("tcp", 443, 443, "sg-0abc1234", SourceKind.SECURITY_GROUP),
        Rule.build(Direction.EGRESS, "-1", None, None, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0")),
    ):
        decision = decide(rule, PERSON, LOCKDOWN)
        assert decision.revert and "lockdown" in decision.reason


@pytest.mark.parametrize(
    ("rule", "revert"),
    [
        (ingress("tcp", 22, 22, "0.0.0.0/0"), True),
        (ingress("tcp", 22, 22, "::/0"), True),
        (ingress("tcp", 443, 443, "0.0.0.0/0"), False),
        (ingress("tcp", 80, 80, "::/0"), False),
        (ingress("udp", 443, 443, "0.0.0.0/0"), False),  # QUIC on an open port
        (ingress("tcp", 80, 443, "0.0.0.0/0"), True),  # the range reaches 81-442
        (ingress("tcp", 0, 65535, "0.0.0.0/0"), True),
        (ingress("-1", None, None, "0.0.0.0/0"), True),
        (ingress("6", "22", "22", "0.0.0.0/0"), True),  # protocol by number
        (ingress("17", 53, 53, "0.0.0.0/0"), True),
        (ingress("icmp", 8, -1, "0.0.0.0/0"), False),  # no ports: not guarded in internet mode
        (ingress("50", None, None, "0.0.0.0/0"), False),
        (ingress("tcp", 22, 22, "10.0.0.0/8"), False),
        (Rule.build(Direction.EGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0")), False),
    ],
    ids=[
        "ssh-v4",
        "ssh-v6",
        "https",
        "http-v6",
        "udp-443",
        "range-80-443",
        "all-tcp",
        "all-traffic",
        "proto-6",
        "proto-17",
        "icmp",
        "esp",
        "internal",
        "egress",
    ],
)
def test_internet_mode(rule: Rule, revert: bool) -> None:
    assert decide(rule, PERSON, INTERNET).revert is revert


def test_internet_mode_with_custom_open_ports() -> None:
    policy = Policy(mode=Mode.INTERNET, open_ports=(PortRange(8000, 8100), PortRange(8101, 8200)))
    assert not decide(ingress("tcp", 8050, 8150, "0.0.0.0/0"), PERSON, policy).revert  # adjacent ranges join
    assert decide(ingress("tcp", 443, 443, "0.0.0.0/0"), PERSON, policy).revert
    closed = Policy(mode=Mode.INTERNET, open_ports=())
    assert decide(ingress("tcp", 443, 443, "0.0.0.0/0"), PERSON, closed).revert


def test_reasons_say_why() -> None:
    assert decide(ingress("tcp", 22, 22, "0.0.0.0/0"), PERSON, INTERNET).reason == "opens tcp 22 to the internet"
    assert "internal" in decide(ingress("tcp", 22, 22, "10.0.0.0/8"), PERSON, INTERNET).reason
    assert "SENTRY_OPEN_PORTS" in decide(ingress("tcp", 443, 443, "0.0.0.0/0"), PERSON, INTERNET).reason


def test_exempt_principal_by_session_issuer_role() -> None:
    policy = Policy(exempt_principals=("arn:aws:iam::*:role/terraform-*",))
    decision = decide(ingress("tcp", 22, 22, "0.0.0.0/0"), TERRAFORM, policy)
    assert not decision.revert and decision.exempt
    assert "arn:aws:iam::*:role/terraform-*" in decision.reason
    assert decide(ingress("tcp", 22, 22, "0.0.0.0/0"), PERSON, policy).revert


def test_exempt_principal_by_own_arn_and_case_matters() -> None:
    policy = Policy(exempt_principals=("arn:aws:iam::111122223333:user/dana",))
    assert not decide(ingress("tcp", 22, 22, "0.0.0.0/0"), PERSON, policy).revert
    shouty = Policy(exempt_principals=("arn:aws:iam::111122223333:user/DANA",))
    assert decide(ingress("tcp", 22, 22, "0.0.0.0/0"), PERSON, shouty).revert


@pytest.mark.parametrize(
    ("arn", "matches"),
    [
        ("arn:aws:iam::111122223333:role/terraform-ci", True),
        ("arn:aws:iam::111122223333:role/terraform-", True),
        ("arn:aws:iam::111122223333:role/ops/terraform-ci", False),  # a path is another segment
        ("arn:aws:iam::111122223333:user/:role/terraform-/mallory", False),  # forged with an IAM path
        ("arn:aws:iam::111122223333:user/x:role/terraform-ci", False),
        ("arn:aws:iam::1:2:role/terraform-ci", False),
        ("arn:aws:sts::111122223333:assumed-role/terraform-ci/s", False),
    ],
)
def test_exemption_globs_never_cross_separators(arn: str, matches: bool) -> None:
    assert arn_matches("arn:aws:iam::*:role/terraform-*", arn) is matches


def test_a_forged_path_cannot_exempt_a_user() -> None:
    policy = Policy(exempt_principals=("arn:aws:iam::*:role/terraform-*",))
    mallory = Actor("IAMUser", arn="arn:aws:iam::111122223333:user/:role/terraform-/mallory")
    assert decide(ingress("tcp", 22, 22, "0.0.0.0/0"), mallory, policy).revert


def test_an_actor_without_arn_is_never_exempt() -> None:
    policy = Policy(exempt_principals=("arn:*",))
    assert decide(ingress("tcp", 22, 22, "0.0.0.0/0"), Actor("Unknown"), policy).revert


@pytest.mark.parametrize(
    ("ranges", "wanted", "covered"),
    [
        ([(80, 80), (443, 443)], (80, 80), True),
        ([(80, 80), (443, 443)], (80, 443), False),
        ([(1, 10), (11, 20)], (5, 15), True),
        ([(1, 10), (12, 20)], (5, 15), False),
        ([(0, 65535)], (0, 65535), True),
        ([], (22, 22), False),
        ([(20, 30), (1, 5)], (2, 4), True),
    ],
)
def test_port_coverage(ranges: list[tuple[int, int]], wanted: tuple[int, int], covered: bool) -> None:
    assert covers([PortRange(*r) for r in ranges], PortRange(*wanted)) is covered


def test_group_scope() -> None:
    by_id = GroupScope(group_ids=frozenset({"sg-0abc1234"}))
    assert by_id.covers_id("sg-0abc1234") and not by_id.covers_id("sg-0def5678")
    assert GroupScope(all_groups=True).covers_id("sg-anything")
    by_tag = GroupScope(tag_key="env", tag_value="prod")
    assert by_tag.covers_tags({"env": "prod"}) and not by_tag.covers_tags({"env": "dev"})
    assert GroupScope(tag_key="guard").covers_tags({"guard": ""})
    assert not GroupScope(tag_key="guard").covers_tags({})
    assert not GroupScope().guards_anything
