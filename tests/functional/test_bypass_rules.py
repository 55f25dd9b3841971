"""Ways around the sentry through the rules themselves: protocols, races, unreadable rules, truncated records.

Each test makes the real calls against moto, delivers the record CloudTrail
would emit (or runs the sweep), and reads the group's real rules afterwards.
Each names the class of issue 11 it closes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.policy import GroupScope
from localaws import cloudtrail
from sentrycli.snapshot import snapshot, write
from tests.conftest import DEPLOYED_CALLS
from tests.functional.conftest import REGION, Invoke, World, ssh_from

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
INTERNET = {"SENTRY_MODE": "internet"}


def everywhere(
    protocol: str, low: int | None = None, high: int | None = None, cidr: str = "0.0.0.0/0"
) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": protocol, "IpRanges": [{"CidrIp": cidr}]}
    if low is not None:
        permission |= {"FromPort": low, "ToPort": high}
    return permission


# --- 3. Protocols that carry every port ------------------------------------------------------------

# moto needs ports for these; EC2 ignores them ("a protocol other than tcp, udp, icmp or icmpv6 allows
# traffic on all ports"), and CloudTrail logs whatever the caller sent.
EVERY_PORT_PROTOCOLS = [("132", -1, -1), ("136", 0, 0), ("33", -1, -1), ("50", -1, -1)]


@pytest.mark.parametrize(("protocol", "low", "high"), EVERY_PORT_PROTOCOLS, ids=["sctp", "udp-lite", "dccp", "esp"])
def test_a_protocol_that_carries_every_port_is_reverted_in_internet_mode(
    world: World, sentry: Invoke, protocol: str, low: int, high: int
) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from(port=443)])
    event = world.change(
        "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[everywhere(protocol, low, high)]
    )
    assert f"protocol {protocol} from 0.0.0.0/0, ingress" in world.rules(group)

    answer = sentry(event, SENTRY_GROUP_IDS=group, **INTERNET)

    assert world.rules(group) == {"tcp 443 from 0.0.0.0/0, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1}
    ((_, document),) = world.messages()
    # (UDP-Lite as moto stores it is not matched by its definition, and is revoked by its ID: class 8 below.)
    assert document["rules"][0]["reason"].startswith(f"opens protocol {protocol} (every port) to the internet")


def test_the_sweep_reverts_every_port_protocols_too_and_leaves_icmp_alone(world: World, sweeper: Invoke) -> None:
    group = world.group(tags={"sg-sentry": "guard"})
    ping = {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    permissions = [everywhere(p, low, high) for p, low, high in EVERY_PORT_PROTOCOLS] + [ping]
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)

    answer = sweeper(SENTRY_GROUP_TAG="sg-sentry=guard", **INTERNET)

    assert world.rules(group) == {"icmp type 8 all codes from 0.0.0.0/0, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 4}


# --- 4. Revoking a rule that was fixed meanwhile ---------------------------------------------------


def test_a_rule_its_author_narrowed_before_the_event_arrived_is_left_as_it_now_is(world: World, sentry: Invoke) -> None:
    group = world.group()
    opened = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    rule_id = world.only_rule_id(group)
    # The console's edit: the same rule, narrowed in place, before the sentry handles the first event.
    narrowed = world.modify(group, rule_id, "tcp", 22, "10.0.0.0/8")
    DEPLOYED_CALLS.clear()

    answer = sentry(opened, SENTRY_GROUP_IDS=group, **INTERNET)

    assert world.rules(group) == {"tcp 22 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    assert world.only_rule_id(group) == rule_id  # the corrected rule itself, not a copy
    # The revoke named the open definition, not the ID, and was still the first call.
    operation, params = DEPLOYED_CALLS[0][1], DEPLOYED_CALLS[0][2]
    assert operation == "RevokeSecurityGroupIngress" and "SecurityGroupRuleIds" not in params
    assert answer["rules"] == {"superseded": 1}
    ((subject, document),) = world.messages()
    assert "reverted" not in subject
    assert document["rules"][0]["reason"] == (
        f"rule {rule_id} was changed since to tcp 22 from 10.0.0.0/8, ingress, which was left as it is"
    )
    # The narrowing has its own event, and is allowed on its own merits.
    assert sentry(narrowed, SENTRY_GROUP_IDS=group, **INTERNET)["rules"] == {"allowed": 1}
    assert world.rules(group) == {"tcp 22 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}


def test_a_rule_reopened_under_another_id_is_still_reverted(world: World, sentry: Invoke) -> None:
    group = world.group()
    first = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    world.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])  # no event seen yet

    sentry(first, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}  # the definition the record names is what goes


# --- 8. "Already gone" is checked, not taken on trust ----------------------------------------------


def test_a_rule_ec2_does_not_match_by_definition_is_not_reported_gone_but_revoked_by_its_id(
    world: World, sentry: Invoke
) -> None:
    # moto stores UDP-Lite with the ports it was given (0-0); a revoke of protocol 136 by definition
    # (ports -1, "every port") then matches nothing, and EC2 answers "no such rule".
    group = world.group()
    event = world.change(
        "AuthorizeSecurityGroupIngress",
        {"with_rule_set": False},
        GroupId=group,
        IpPermissions=[everywhere("136", 0, 0)],
    )

    answer = sentry(event, SENTRY_GROUP_IDS=group, **INTERNET)

    assert world.rules(group) == {DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1}
    ((_, document),) = world.messages()
    assert "revoked by its ID" in document["rules"][0]["reason"]
    assert document["rules"][0]["rule_id"] is not None


def test_a_rule_that_really_is_gone_is_reported_gone(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    world.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])

    assert sentry(event, SENTRY_GROUP_IDS=group)["rules"] == {"already-gone": 1}
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_the_sweep_checks_already_gone_the_same_way(world: World, sweeper: Invoke) -> None:
    group = world.group(tags={"sg-sentry": "guard"})
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[everywhere("136", 0, 0)])

    assert sweeper(SENTRY_GROUP_TAG="sg-sentry", **INTERNET)["rules"] == {"reverted": 1}
    assert world.rules(group) == {DEFAULT_EGRESS}


# --- 6. One unreadable rule must not switch the sweep off ------------------------------------------

# moto accepts these; sg-sentry cannot read them (tcp needs a real port range).
UNREADABLE = [everywhere("tcp", -1, -1), everywhere("tcp", 23, 21)]


def test_an_unreadable_rule_is_reported_and_the_sweep_goes_on(world: World, sweeper: Invoke) -> None:
    broken = world.group("broken", tags={"sg-sentry": "guard"})
    world.ec2.authorize_security_group_ingress(GroupId=broken, IpPermissions=UNREADABLE)
    exposed = world.group("exposed", tags={"sg-sentry": "guard"})
    world.ec2.authorize_security_group_ingress(GroupId=exposed, IpPermissions=[ssh_from()])

    answer = sweeper(SENTRY_GROUP_TAG="sg-sentry", **INTERNET)

    assert world.rules(exposed) == {DEFAULT_EGRESS}  # swept, though another group cannot be read
    assert answer["rules"] == {"reverted": 1, "unreadable": 2}
    ((_, document),) = world.messages()
    (broken_report,) = [group for group in document["groups"] if group["id"] == broken]
    assert [item["outcome"] for item in broken_report["unreadable"]] == ["unreadable", "unreadable"]
    assert "COULD NOT READ" in world.emails()[0]


def test_in_lockdown_an_unreadable_rule_is_revoked_by_its_id(world: World, sweeper: Invoke, tmp_path: Path) -> None:
    held = world.group("held")
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    baseline = tmp_path / "baseline.json"
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [held]), baseline)
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=UNREADABLE)

    answer = sweeper(SENTRY_GROUP_IDS=held, SENTRY_BASELINE_FILE=str(baseline))

    assert world.rules(held) == {"tcp 443 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 2}


def test_an_event_naming_an_unreadable_rule_revokes_it_by_its_id_in_lockdown(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change(
        "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[UNREADABLE[0], ssh_from(port=2222)]
    )

    answer = sentry(event, SENTRY_GROUP_IDS=group)

    assert world.rules(group) == {DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 2}
    ((_, document),) = world.messages()
    (unreadable,) = document["unreadable_rules"]
    assert unreadable["outcome"] == "reverted" and unreadable["rule_id"].startswith("sgr-")


def test_a_snapshot_refuses_a_group_it_cannot_read(world: World) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=UNREADABLE[:1])
    with pytest.raises(ValueError, match="cannot approve rules nobody can read"):
        snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [group])


# --- 7. Records CloudTrail truncated ---------------------------------------------------------------


def truncated(event: dict[str, Any], *fields: str) -> dict[str, Any]:
    """The record as CloudTrail logs it when these fields exceed its size limit."""
    for field in fields:
        size = len(json.dumps(event["detail"][field]))
        event["detail"][field] = {"omitted": True, "originalSize": size * 1000}
    return event


def test_a_truncated_record_naming_no_group_puts_every_guarded_group_right(world: World, sentry: Invoke) -> None:
    tagged = {"sg-sentry": "guard"}
    target, other = world.group("target", tags=tagged), world.group("other", tags=tagged)
    world.ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[ssh_from(port=3389)])  # missed earlier
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=target, IpPermissions=[ssh_from()])
    truncated(event, "requestParameters", "responseElements")

    answer = sentry(event, SENTRY_GROUP_TAG="sg-sentry", **INTERNET)

    assert world.rules(target) == {DEFAULT_EGRESS} and world.rules(other) == {DEFAULT_EGRESS}
    assert answer["groups_checked"] == 2 and answer["rules"] == {"reverted": 2}
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: reverted 2 rules after a truncated AuthorizeSecurityGroupIngress in eu-west-1"
    assert document["kind"] == "event" and document["event"]["id"] == event["detail"]["eventID"]
    assert "CloudTrail truncated the record" in document["text"]


def test_a_truncated_record_that_still_names_its_group_puts_that_group_right(world: World, sentry: Invoke) -> None:
    target = world.group("target")
    other = world.group("other")
    world.ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[ssh_from(port=3389)])
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=target, IpPermissions=[ssh_from()])
    event["detail"]["requestParameters"]["ipPermissions"] = {"omitted": True}
    truncated(event, "responseElements")

    answer = sentry(event, SENTRY_GROUP_IDS=f"{target},{other}", **INTERNET)

    assert world.rules(target) == {DEFAULT_EGRESS}
    assert answer["groups_checked"] == 1  # the group the record names, and no other
    assert "tcp 3389 from 0.0.0.0/0, ingress" in world.rules(other)


def test_a_truncated_record_is_reported_even_when_nothing_was_wrong(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])
    truncated(event, "requestParameters", "responseElements")

    answer = sentry(event, SENTRY_GROUP_IDS=group, **INTERNET)

    assert answer["outcome"] == "clean" and "tcp 22 from 10.0.0.0/8, ingress" in world.rules(group)
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry: nothing to put right after a truncated AuthorizeSecurityGroupIngress in eu-west-1"


def test_a_record_that_cannot_be_read_and_says_nothing_of_truncation_is_still_reported_as_before(
    world: World, sentry: Invoke
) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    event["detail"]["requestParameters"] = {"groupId": group, "ipPermissions": "nonsense"}
    event["detail"]["responseElements"] = None

    assert sentry(event, SENTRY_GROUP_IDS=group)["outcome"] == "not-understood"
    ((subject, _),) = world.messages()
    assert subject.startswith("sg-sentry: could not evaluate")
    assert cloudtrail.ACCOUNT  # the record came from the same builder as every other
