"""Time-boxed exceptions and the rule text they name: pure, so every case is a few lines."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.allowances import (
    CLOCK_SKEW,
    PREFIX_LIST_REFUSED,
    Allowance,
    AllowanceError,
    allowance_document,
    allowance_from_document,
    granted_on,
)
from chalicelib.domain.baseline import ApprovedGroup, Baseline, BaselineError
from chalicelib.domain.drift import NO_ACTOR, Fix, plan
from chalicelib.domain.policy import Mode, Policy, decide
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind, rule_from_text, rules_from_ip_permission
from sentrycli import allow
from sentrycli.snapshot import without_exceptions

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


# --- what an exception cannot be made to cover (review r1) ------------------------------------


def test_an_exception_grants_nothing_before_it_was_granted_give_or_take_the_clock_skew() -> None:
    # The span is 6 days, so the record reads; dated in 2099, it grants nothing today (nor is it "expired").
    future = replace(allowance(expires=datetime(2099, 1, 7, tzinfo=UTC)), granted_at=datetime(2099, 1, 1, tzinfo=UTC))
    assert not future.valid_at(NOW)
    granted = granted_on([future], GROUP, REGION, NOW)
    assert not granted.valid and not granted.expired
    assert granted.void == {
        SSH: "exception INC-42 (allow-1a2b3c4d) grants nothing: it is dated 2099-01-01 00:00:00 UTC, in the future"
    }
    # A granter's clock a few minutes fast is no forgery.
    soon = replace(allowance(), granted_at=NOW + CLOCK_SKEW, expires=NOW + timedelta(hours=2))
    assert soon.valid_at(NOW) and not soon.valid_at(NOW - timedelta(seconds=1))


def test_an_exception_naming_a_prefix_list_grants_nothing_and_the_revoke_says_so() -> None:
    listed = rule_from_text("tcp 22 from prefix list pl-0123456789abcdef0")
    granted = granted_on([allowance(rule=listed)], GROUP, REGION, NOW)
    assert not granted.valid and listed in granted.void
    for policy in (Policy(Mode.LOCKDOWN), Policy(Mode.INTERNET)):
        (step,) = plan([listed], policy, None, granted=granted)
        assert step.fix is Fix.REVOKE and step.reason.endswith(
            "; exception INC-42 (allow-1a2b3c4d) grants nothing: it names a prefix list, whose entries can change "
            "after the grant"
        )
    decision = decide(listed, NO_ACTOR, Policy(Mode.LOCKDOWN), granted=granted)
    assert decision.revert and "grants nothing: it names a prefix list" in decision.reason


def test_an_ended_exception_has_its_rule_revoked_in_every_mode_but_an_approved_rule_stays() -> None:
    internal = rule_from_text("tcp 5432 from 10.9.0.0/16")
    egress = rule_from_text("tcp 443 to 10.9.0.0/16")
    ended = [
        allowance(rule=internal, expires=NOW),
        replace(allowance(rule=egress, expires=NOW), allowance_id="allow-2"),
    ]
    granted = granted_on(ended, GROUP, REGION, NOW)
    for baseline in (None, ApprovedGroup(GROUP, REGION, "web", ())):
        for mode in (Mode.INTERNET, Mode.LOCKDOWN):
            steps = plan([internal, egress], Policy(mode), baseline, granted=granted)
            assert [(s.fix, s.rule) for s in steps] == [(Fix.REVOKE, internal), (Fix.REVOKE, egress)], (mode, baseline)
            assert "exception INC-42 (allow-1a2b3c4d) expired at 2026-12-01 18:00:00 UTC" in steps[0].reason
    # Internet mode, nothing ended: allowed as before.
    assert plan([internal, egress], Policy(Mode.INTERNET), None) == ()
    # The reviewed baseline approves it: it stays, whatever the exception.
    approved = ApprovedGroup(GROUP, REGION, "web", (internal,))
    assert plan([internal], Policy(Mode.LOCKDOWN), approved, granted=granted) == ()


def test_a_revoke_ends_an_exception_now_keeps_its_record_and_cannot_end_it_twice() -> None:
    bob = "arn:aws:sts::1:assumed-role/secops/bob"
    ended = allowance().ended(NOW + timedelta(microseconds=500), bob)
    assert ended.expires == NOW and ended.revoked_by == bob and not ended.valid_at(NOW)
    assert granted_on([ended], GROUP, REGION, NOW).expired == {SSH: ended}
    assert "exception INC-42 (allow-1a2b3c4d) was revoked at 2026-12-01 18:00:00 UTC by " + bob in ended.expired_words()
    assert allowance_from_document(allowance_document(ended)) == ended
    assert "revoked_by" not in allowance_document(allowance())  # a record never revoked reads as before
    # Revoked in the second it was granted: the store's whole seconds make that no span at all, and it still reads.
    at_once = replace(allowance(), granted_at=NOW).ended(NOW, bob)
    assert allowance_from_document(allowance_document(at_once)) == at_once
    with pytest.raises(AllowanceError, match=r"was revoked at 2026-12-01 18:00:00 UTC by .*: nothing to revoke"):
        ended.ended(NOW, bob)
    with pytest.raises(AllowanceError, match=r"expired at .*: nothing to revoke"):
        allowance(expires=NOW).ended(NOW, bob)


def test_a_revoke_within_the_clock_skew_ends_the_exception_at_once() -> None:
    # Granted from a clock 4 minutes fast (within CLOCK_SKEW), revoked a minute later by the sentry's clock.
    bob = "arn:aws:sts::1:assumed-role/secops/bob"
    ahead = NOW + timedelta(minutes=4)
    fast = replace(allowance(), granted_at=ahead, expires=ahead + timedelta(hours=2))
    assert fast.valid_at(NOW)
    ended = fast.ended(NOW + timedelta(minutes=1), bob)
    assert ended.expires == ahead  # no earlier than its grant, as the record's span must be
    assert not ended.valid_at(NOW + timedelta(minutes=1)) and not ended.valid_at(NOW)
    assert granted_on([ended], GROUP, REGION, NOW).expired == {SSH: ended}
    assert "  REVOKED at 2026-12-01 18:04:00 UTC by " + bob in allow.line(ended, NOW)
    with pytest.raises(AllowanceError, match="nothing to revoke"):
        ended.ended(NOW + timedelta(minutes=2), bob)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tcp 22 from 203.0.113.4/0", "203.0.113.4/0 is the network 0.0.0.0/0: write that if you mean it"),
        ("tcp 22 from 2001:db8::1/32", "2001:db8::1/32 is the network 2001:db8::/32: write that if you mean it"),
        ("tcp 22 from prefix list pl-0123456789abcdef0", PREFIX_LIST_REFUSED),
        ("tcp 22 from 203.0.113.4/32", None),
        ("tcp 22 from 2001:DB8::/32", None),
        ("all traffic from security group sg-12345678", None),
    ],
    ids=["host-bits", "host-bits-v6", "prefix-list", "host", "v6-upper", "group"],
)
def test_the_grants_text_names_exactly_the_addresses_it_means(text: str, problem: str | None) -> None:
    if problem is None:
        assert allow.asked(GROUP, text, "2h", "INC-42").rule == rule_from_text(text)
    else:
        with pytest.raises(ValueError, match=re.escape(problem)):
            allow.asked(GROUP, text, "2h", "INC-42")


@pytest.mark.parametrize(
    ("source", "warned"),
    [
        ("0.0.0.0/0", "0.0.0.0/0 is the whole internet"),
        ("::/0", "::/0 is the whole internet"),
        ("198.0.0.0/8", "198.0.0.0/8 is 16,777,216 addresses of the internet"),
        ("2a00::/16", "2a00::/16 is "),
        ("203.0.113.0/24", None),
        ("198.51.0.0/16", None),
        ("10.0.0.0/8", None),
        ("2001:db8::/48", None),
    ],
)
def test_a_grant_reaching_the_internet_broadly_is_warned_of(source: str, warned: str | None) -> None:
    said = allow.warning(rule_from_text(f"tcp 22 from {source}"))
    assert (said is None) if warned is None else (said is not None and said.startswith(f"Warning: {warned}"))


def test_a_stored_host_written_with_a_short_length_is_listed_as_the_network_it_means() -> None:
    # Written before the grant refused it (or by hand): AWS reads 203.0.113.4/0 as 0.0.0.0/0, and so does the list.
    wide = allowance(rule=rule_from_text("tcp 22 from 203.0.113.4/0"))
    assert "tcp 22 from 203.0.113.4/0, ingress (that is 0.0.0.0/0)  valid until" in allow.line(wide, NOW)
    assert "(that is" not in allow.line(allowance(), NOW)
    listed = allowance(rule=rule_from_text("tcp 22 from prefix list pl-0123456789abcdef0"))
    assert "GRANTS NOTHING (it names a prefix list" in allow.line(listed, NOW)


def test_a_snapshot_leaves_out_the_rules_valid_and_ended_exceptions_name_and_no_other() -> None:
    internal, listed = (
        rule_from_text("tcp 5432 from 10.9.0.0/16"),
        rule_from_text("tcp 22 from prefix list pl-12345678"),
    )
    ended = replace(allowance(rule=internal, expires=NOW - timedelta(minutes=1)), allowance_id="allow-00000002")
    void = replace(allowance(rule=listed), allowance_id="allow-00000003")
    elsewhere = allowance(group="sg-0fedcba9876543210")  # the same rule on another group: no word of this one
    egress = rule_from_text("all traffic to 0.0.0.0/0, egress")
    group = ApprovedGroup(GROUP, REGION, "web", (SSH, internal, listed, egress), {"pl-12345678": ("10.0.0.0/8",)})

    (kept,), said = without_exceptions([group], [allowance(), ended, void, elsewhere], NOW)

    assert kept.rules == (listed, egress) and kept.prefix_lists == group.prefix_lists
    assert said == [
        f"left out {SSH} on {GROUP}: it stands by exception INC-42 (allow-1a2b3c4d)",
        f"left out {internal} on {GROUP}: it stands by exception INC-42 (allow-00000002)",
    ]
    assert without_exceptions([group], [elsewhere], NOW) == ([group], [])


def test_an_exception_that_ended_over_a_week_ago_is_history_and_its_rule_judged_as_any_other() -> None:
    lately, long_ago = allowance(expires=NOW - timedelta(days=6)), allowance(expires=NOW - timedelta(days=8))
    assert granted_on([lately], GROUP, REGION, NOW).expired == {SSH: lately}
    assert not granted_on([long_ago], GROUP, REGION, NOW)
