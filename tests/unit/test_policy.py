"""Policy: pure decisions, one rule and one actor at a time."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from chalicelib.domain.change import Actor
from chalicelib.domain.policy import (
    GroupScope,
    Mode,
    Policy,
    PortRange,
    arn_matches,
    covers,
    decide,
    is_internet_source,
)
from chalicelib.domain.prefix_lists import ListContents, PrefixList, PrefixListEntry
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind

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


def test_group_references_are_internal() -> None:
    rule = ingress("tcp", 22, 22, "sg-0abc1234", SourceKind.SECURITY_GROUP)
    assert not is_internet_source(rule)
    assert not decide(rule, PERSON, INTERNET).revert


CORP = "pl-0abc1234"


def corp_list(*cidrs: str, owner: str = "111122223333", name: str = "corp") -> ListContents:
    entries = tuple(PrefixListEntry(cidr, "anyone" if cidr == "0.0.0.0/0" else None) for cidr in cidrs)
    return ListContents({CORP: PrefixList(CORP, name, owner, 3, entries)})


def test_a_prefix_list_is_judged_by_its_entries_not_its_id() -> None:
    rule = ingress("tcp", 22, 22, CORP, SourceKind.PREFIX_LIST)
    assert not decide(rule, PERSON, INTERNET, lists=corp_list("10.0.0.0/8", "192.168.0.0/16")).revert
    opened = decide(rule, PERSON, INTERNET, lists=corp_list("10.0.0.0/8", "0.0.0.0/0"))
    assert opened.revert
    # The email says which entry opened the group.
    assert opened.reason == (
        'opens tcp 22 to the internet through prefix list pl-0abc1234 (corp), which holds 0.0.0.0/0 ("anyone")'
    )
    # A list with an open entry is still fine on a port that may be open.
    https = ingress("tcp", 443, 443, CORP, SourceKind.PREFIX_LIST)
    assert not decide(https, PERSON, INTERNET, lists=corp_list("0.0.0.0/0")).revert
    # Office addresses are public; trusting them is SENTRY_TRUSTED_CIDRS' job, and the list's entries are checked.
    office = Policy(mode=Mode.INTERNET, trusted_networks=(ip_network("198.51.100.0/24"),))
    assert not decide(rule, PERSON, office, lists=corp_list("198.51.100.0/25")).revert
    assert decide(rule, PERSON, office, lists=corp_list("198.51.100.0/25", "203.0.113.0/24")).revert


def test_a_prefix_list_that_was_not_or_could_not_be_read_is_the_internet() -> None:
    rule = ingress("tcp", 22, 22, CORP, SourceKind.PREFIX_LIST)
    assert decide(rule, PERSON, INTERNET).revert  # not read
    gone = decide(rule, PERSON, INTERNET, lists=ListContents({CORP: None}))
    assert gone.revert and "could not be read" in gone.reason


def test_aws_managed_lists_are_trusted_by_name_and_only_when_aws_owns_them() -> None:
    rule = ingress("tcp", 22, 22, CORP, SourceKind.PREFIX_LIST)
    connect = corp_list("18.202.216.48/29", owner="AWS", name="com.amazonaws.eu-west-1.ec2-instance-connect")
    allowed = decide(rule, PERSON, INTERNET, lists=connect)
    assert not allowed.revert and "SENTRY_TRUSTED_PREFIX_LISTS: com.amazonaws.*.ec2-instance-connect" in allowed.reason
    # Not trusted by default: CloudFront's origin-facing addresses, through which any AWS customer can send.
    cloudfront = corp_list("130.176.0.0/18", owner="AWS", name="com.amazonaws.global.cloudfront.origin-facing")
    assert decide(rule, PERSON, INTERNET, lists=cloudfront).revert
    # A customer's list cannot borrow the name (AWS reserves it, and the owner is checked too).
    impostor = corp_list("0.0.0.0/0", name="com.amazonaws.eu-west-1.ec2-instance-connect")
    assert decide(rule, PERSON, INTERNET, lists=impostor).revert
    # Trusting none of them: an AWS-managed list is judged by its (public) entries like any other.
    strict = Policy(mode=Mode.INTERNET, trusted_prefix_lists=())
    assert decide(rule, PERSON, strict, lists=connect).revert
    only_s3 = Policy(mode=Mode.INTERNET, trusted_prefix_lists=("com.amazonaws.*.s3",))
    assert decide(rule, PERSON, only_s3, lists=connect).revert


def test_an_approved_prefix_list_rule_is_approved_with_the_entries_it_had() -> None:
    rule = ingress("tcp", 443, 443, CORP, SourceKind.PREFIX_LIST)
    approved = frozenset({rule})
    then = {CORP: ("10.0.0.0/8",)}
    assert not decide(rule, PERSON, LOCKDOWN, approved, corp_list("10.1.0.0/16").with_approved(then)).revert
    widened = decide(rule, PERSON, LOCKDOWN, approved, corp_list("10.0.0.0/8", "10.0.0.0/7").with_approved(then))
    assert widened.revert and "beyond the entries it held when approved" in widened.reason
    # A baseline from before lists were judged by their entries records none: approved while internal.
    assert not decide(rule, PERSON, LOCKDOWN, approved, corp_list("10.0.0.0/8")).revert
    unrecorded = decide(rule, PERSON, LOCKDOWN, approved, corp_list("10.0.0.0/8", "0.0.0.0/0"))
    assert unrecorded.revert and "does not record what it held" in unrecorded.reason


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
        (ingress("icmpv6", -1, -1, "::/0"), False),
        # AWS: any protocol but tcp, udp, icmp and icmpv6 allows traffic on every port.
        (ingress("50", None, None, "0.0.0.0/0"), True),
        (ingress("132", None, None, "0.0.0.0/0"), True),  # SCTP
        (ingress("136", 0, 0, "0.0.0.0/0"), True),  # UDP-Lite, ports as CloudTrail may log them
        (ingress("33", -1, -1, "::/0"), True),  # DCCP
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
        "icmpv6",
        "esp",
        "sctp",
        "udp-lite",
        "dccp",
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
    sctp = decide(ingress("132", None, None, "0.0.0.0/0"), PERSON, INTERNET).reason
    assert sctp == "opens protocol 132 (every port) to the internet"
    # Only when every port may be open is such a protocol allowed.
    every = Policy(mode=Mode.INTERNET, open_ports=(PortRange(0, 65535),))
    assert not decide(ingress("132", None, None, "0.0.0.0/0"), PERSON, every).revert


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
