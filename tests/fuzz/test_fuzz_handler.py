"""Properties of the whole handler against moto.

1. Bad input never escapes as an exception, and never touches a rule of a group that is not guarded; from
   the guarded group (no baseline) it only ever takes rules away, and every rule it says it reverted is gone.
2. After a record of a real call that added forbidden rules to a guarded group, none of them remains
   (prefix lists judged by their entries, every protocol by the ports it carries).
3. Whatever tag calls are made on whatever groups, a guarded group never loses its guard tag.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib.adapters.log import DecisionLog
from chalicelib.domain.change import Actor
from chalicelib.domain.errors import RevertFailed
from chalicelib.domain.rules import rule_from_security_group_rule
from chalicelib.usecases.handle_event import handle_event
from localaws import cloudtrail
from tests.conftest import EVENTS, load_event
from tests.functional.conftest import REGION, World
from tests.fuzz.strategies import EXAMPLES, FUZZ, GENERATED, HOSTILE, at_least, mutated, records, wrap

PERSON = Actor("IAMUser", arn="arn:aws:iam::123456789012:user/alice")
# What EC2 accepts in a rule description (it refuses anything else, so no record could carry it).
DESCRIPTIONS = st.text(alphabet="abcXYZ019 ._-:/()#,@[]+=&;{}!$*", max_size=255)


@dataclass
class FuzzWorld:
    world: World
    guarded: str
    unguarded: str
    peer: str
    # Customer-managed lists, each with its entries known: True when one of them is the internet.
    prefix_lists: dict[str, bool]
    # With an IPv6 block: moto (unlike EC2) silently skips revoking IPv6 egress rules in a VPC without one.
    dual_stack_vpc: str

    def rules(self, group_id: str) -> set[str]:
        return self.world.rules(group_id)

    def rules_by_group(self, group_ids: list[str]) -> dict[str, set[str]]:
        """Every group's rules, in one call."""
        answer = self.world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": group_ids}])
        found: dict[str, set[str]] = {group: set() for group in group_ids}
        for rule in answer["SecurityGroupRules"]:
            found[rule["GroupId"]].add(str(rule_from_security_group_rule(rule)))
        return found


@pytest.fixture
def fuzz_world() -> Iterator[FuzzWorld]:
    with mock_aws():
        world = World.build(*(boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs")))
        # moto signs every message it delivers to SQS (RSA): thousands would dominate the run.
        for subscription in world.sns.list_subscriptions()["Subscriptions"]:
            if subscription["Protocol"] == "sqs":
                world.sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        guarded, unguarded, peer = world.group("guarded"), world.group("unguarded"), world.group("peer")
        for group in (guarded, unguarded):
            world.ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                ],
            )
        lists = {world.prefix_list(*cidrs, name=name): internet for name, cidrs, internet in PREFIX_LISTS}
        dual_stack = world.ec2.create_vpc(CidrBlock="10.9.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
        yield FuzzWorld(world, guarded, unguarded, peer, lists, dual_stack)


# (name, entries, whether an entry is the internet), worked out here, not by chalicelib.policy.
PREFIX_LISTS = [
    ("internal", ("10.1.0.0/16", "192.168.7.0/24", "100.64.0.0/10"), False),
    ("one-open-entry", ("10.1.0.0/16", "0.0.0.0/0"), True),
    ("documentation", ("192.0.2.0/24",), True),  # TEST-NET-1 is public address space
    ("just-past-rfc1918", ("172.32.0.0/16",), True),
]


def _retarget(raw: Any, group: str) -> Any:
    """Point every group ID of a fixture at `group`, a group that exists here (and in this region)."""
    if isinstance(raw, dict):
        return {key: _retarget(value, group) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_retarget(value, group) for value in raw]
    if isinstance(raw, str) and raw.startswith("sg-"):
        return group
    return REGION if raw == "eu-central-1" else raw


# Rules every group starts each example with. The legacy fixtures (no rule IDs) name
# "tcp 22 from 0.0.0.0/0", so a record aimed at an unguarded group puts a real rule at stake.
STAKES = [
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
]
STAKE_TEXTS = ["tcp 443 from 10.0.0.0/8, ingress", "tcp 22 from 0.0.0.0/0, ingress"]


def test_bad_input_never_escapes_and_never_touches_an_unguarded_group(fuzz_world: FuzzWorld) -> None:
    fw = fuzz_world
    targets = [fw.guarded, fw.unguarded, fw.peer]
    ids = st.sampled_from([*targets, "sg-0123456789abcdef0", "sg-zz"])
    fixtures = [name.name for name in sorted(EVENTS.glob("*.json"))]
    inputs = st.one_of(
        records(ids),
        st.tuples(st.sampled_from(fixtures), st.sampled_from(targets)).flatmap(
            lambda pair: mutated(_retarget(load_event(pair[0]), pair[1]))
        ),
        # Unbroken fixtures too: these must be acted on exactly when they aim at the guarded group.
        st.tuples(st.sampled_from(fixtures), st.sampled_from(targets)).map(
            lambda pair: _retarget(load_event(pair[0]), pair[1])
        ),
    )
    for group, permission in ((group, permission) for group in targets for permission in STAKES):
        try:
            fw.world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])
        except fw.world.ec2.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "InvalidPermission.Duplicate":
                raise  # only "already there" is expected (the fixture gave two of the groups these rules)
    held = fw.rules_by_group(targets)
    untouched = {group: rules for group, rules in held.items() if group != fw.guarded}
    assert all(set(STAKE_TEXTS) <= rules for rules in held.values()), held  # every group has rules at stake
    guarded_before = held[fw.guarded]
    env = {"SENTRY_GROUP_IDS": fw.guarded, "SENTRY_TOPIC_ARN": fw.world.topic_arn, "SENTRY_MODE": "lockdown"}
    # Per input: how many inputs did each thing (a line per group and a summary line would count twice).
    seen: Counter[str] = Counter()

    @FUZZ
    @given(inputs)
    def check(raw: Any) -> None:
        nonlocal guarded_before
        GENERATED["handler: generated and mutated records"] += 1
        seen["inputs"] += 1
        event = raw if isinstance(raw, dict) and "detail" in raw else wrap(raw)
        log = io.StringIO()
        try:
            handle_event(event, env=env, log=DecisionLog(log))
        except RevertFailed:
            # Loud, not lost: allowed only with the FAILED decision logged (and reported) first.
            GENERATED["handler: reverts AWS refused (reported)"] += 1
            assert '"outcome": "failed"' in log.getvalue()
        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        seen.update(["turned away as not guarded"] * any(line["outcome"] == "not-guarded" for line in lines))
        # One look at every group. The unguarded ones: untouched.
        now = fw.rules_by_group(targets)
        for group, rules in untouched.items():
            assert now[group] == rules
        # The guarded one: without a baseline the sentry only takes rules away, never adds one, and every
        # rule it says it reverted there really is gone.
        assert now[fw.guarded] <= guarded_before, now[fw.guarded] - guarded_before
        said_reverted = {
            rule["rule"]
            for line in lines
            if line["group_id"] == fw.guarded
            for rule in line["rules"] or []
            if rule["outcome"] == "reverted"
        }
        assert not said_reverted & now[fw.guarded], said_reverted & now[fw.guarded]
        seen.update(["reverted on the guarded group"] * bool(said_reverted))
        seen.update(["a stake of the guarded group reverted"] * bool(said_reverted & set(STAKE_TEXTS)))
        # Then its stakes put back, for the next example.
        for permission, text in zip(STAKES, STAKE_TEXTS, strict=True):
            if text not in now[fw.guarded]:
                fw.world.ec2.authorize_security_group_ingress(GroupId=fw.guarded, IpPermissions=[permission])
        guarded_before = now[fw.guarded] | set(STAKE_TEXTS)

    check()
    # Not vacuous: a good share of the inputs really reverted rules of the guarded group (its stakes among
    # them), and many aimed at the others, whose rules were at stake, were turned away as not guarded.
    inputs = seen["inputs"]
    assert seen["reverted on the guarded group"] >= at_least(1 / 40, inputs), seen
    assert seen["a stake of the guarded group reverted"] >= at_least(1 / 50, inputs), seen
    assert seen["turned away as not guarded"] >= at_least(1 / 50, inputs), seen


@st.composite
def authorizations(draw: st.DrawFn, fw: FuzzWorld) -> dict[str, Any]:
    """A valid Authorize* call: 1 to 3 permissions, each with 1 to 3 distinct sources."""
    permissions = []
    for protocol in draw(st.lists(st.sampled_from(PROTOCOLS), min_size=1, max_size=3, unique=True)):
        permission: dict[str, Any] = {"IpProtocol": protocol}
        if protocol in ("tcp", "udp", "17"):
            low = draw(st.sampled_from([0, 22, 80, 443, 1024, 3389, 8080]))
            permission |= {"FromPort": low, "ToPort": draw(st.sampled_from([low, low + 1, 65535]))}
        elif protocol == "icmp":
            permission |= {"FromPort": draw(st.sampled_from([-1, 0, 8])), "ToPort": -1}
        elif protocol != "-1":  # moto needs ports for a protocol by number; EC2 ignores them
            permission |= {"FromPort": -1, "ToPort": -1}
        sources = draw(
            st.lists(st.sampled_from(["v4", "v6", "group", "prefix-list"]), min_size=1, max_size=3, unique=True)
        )
        if "v4" in sources:
            cidr = draw(st.sampled_from([c for c in CIDR_TABLE if ":" not in c]))
            permission["IpRanges"] = [{"CidrIp": cidr, "Description": draw(DESCRIPTIONS)}]
        if "v6" in sources:
            cidr = draw(st.sampled_from([c for c in CIDR_TABLE if ":" in c]))
            permission["Ipv6Ranges"] = [{"CidrIpv6": cidr}]
        if "group" in sources:
            permission["UserIdGroupPairs"] = [{"GroupId": fw.peer}]
        if "prefix-list" in sources:
            permission["PrefixListIds"] = [{"PrefixListId": draw(st.sampled_from(sorted(fw.prefix_lists)))}]
        permissions.append(permission)
    return {
        "operation": draw(st.sampled_from(["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"])),
        "permissions": permissions,
        "rule_set": draw(st.booleans()),
        "mode": draw(st.sampled_from(["lockdown", "internet"])),
        "user_agent": draw(HOSTILE),
        "identity": draw(st.sampled_from([cloudtrail.IAM_USER, cloudtrail.assumed_role("admin", "x@example.com")])),
    }


def _default_egress(rule: dict[str, Any]) -> bool:
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    return bool(rule["IsEgress"]) and rule["IpProtocol"] == "-1" and cidr in ("0.0.0.0/0", "::/0")


def _network(cidr: str) -> Any:
    from ipaddress import ip_network

    return ip_network(cidr, strict=False)


# Sources with their answer known in advance (True: the internet), so the expected reverts are
# worked out here independently of chalicelib.policy.
CIDR_TABLE = {
    "0.0.0.0/0": True,
    "203.0.113.0/24": True,
    "172.32.0.0/16": True,
    "11.0.0.0/8": True,
    "10.1.0.0/16": False,
    "100.64.1.0/24": False,
    "192.168.7.0/24": False,
    "::/0": True,
    "2001:db8::/32": True,
    "fd00::/8": False,
    "fe80::/64": False,
}


# tcp, udp (and udp as 17), ICMP, all traffic, and protocols by number that carry every port:
# SCTP, UDP-Lite, DCCP, ESP.
PROTOCOLS = ["tcp", "udp", "icmp", "-1", "17", "132", "136", "33", "50"]


def expected_forbidden(rule: dict[str, Any], mode: str, lists: dict[str, bool]) -> bool:
    if mode == "lockdown":
        return True
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    internet = lists[rule["PrefixListId"]] if rule.get("PrefixListId") else cidr is not None and CIDR_TABLE[cidr]
    if rule["IsEgress"] or not internet:
        return False
    if rule["IpProtocol"] in ("icmp", "1"):
        return False  # no ports: internet mode leaves ICMP alone
    if rule["IpProtocol"] not in ("tcp", "udp", "17", "6"):
        return True  # all traffic, or a protocol by number: every port
    return (rule["FromPort"], rule["ToPort"]) not in ((80, 80), (443, 443))


def test_no_forbidden_rule_from_a_handled_record_remains(fuzz_world: FuzzWorld) -> None:
    """And, as precisely, every rule the policy allows stays."""
    fw = fuzz_world
    ec2 = fw.world.ec2
    seen: Counter[str] = Counter()

    @FUZZ
    @given(authorizations(fw))
    def check(call: dict[str, Any]) -> None:
        group = ec2.create_security_group(GroupName=f"g-{uuid.uuid4()}", Description="d", VpcId=fw.dual_stack_vpc)[
            "GroupId"
        ]
        authorize = (
            ec2.authorize_security_group_egress
            if "Egress" in call["operation"]
            else ec2.authorize_security_group_ingress
        )
        try:
            authorize(GroupId=group, IpPermissions=call["permissions"])
        except ec2.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "InvalidPermission.Duplicate":
                raise  # not a combination EC2 refuses but something wrong with the test's world
            reject()  # the same rule twice in one call (udp and 17, say): EC2 refuses it, no record would exist
        # What the call created: every rule but the group's defaults (which no call can add again).
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        created = [rule for rule in rules["SecurityGroupRules"] if not _default_egress(rule)]
        GENERATED["handler: real calls"] += 1
        seen["calls"] += 1
        record = cloudtrail.record(
            call["operation"],
            {"GroupId": group, "IpPermissions": call["permissions"]},
            created,
            region=REGION,
            with_rule_set=call["rule_set"],
            user_agent=call["user_agent"],
            identity=call["identity"],
        )
        env = {"SENTRY_GROUP_IDS": "*", "SENTRY_MODE": call["mode"]}  # no topic: SNS is fuzzed above
        handle_event(cloudtrail.eventbridge(record), env=env, log=DecisionLog(io.StringIO()))

        remaining = fw.rules(group)
        forbidden = {
            str(rule_from_security_group_rule(r))
            for r in created
            if expected_forbidden(r, call["mode"], fw.prefix_lists)
        }
        allowed = {str(rule_from_security_group_rule(r)) for r in created} - forbidden
        assert not (forbidden & remaining)
        assert allowed <= remaining
        seen.update(["forbidden"] * bool(forbidden) + ["allowed"] * bool(allowed))
        ec2.delete_security_group(GroupId=group)

        if call["mode"] == "internet":
            reverted = [r for r in created if str(rule_from_security_group_rule(r)) in forbidden]
            seen.update(["list opened it"] * any(r.get("PrefixListId") for r in reverted))
            seen.update(["every-port protocol"] * any(r["IpProtocol"] in ("132", "136", "33", "50") for r in reverted))

    check()
    # Not vacuous: many calls had rules to revert, and many had rules that had to stay; prefix lists
    # opened groups through their entries, and every-port protocols were reverted.
    calls = seen["calls"]
    assert seen["forbidden"] >= at_least(1 / 4, calls) and seen["allowed"] >= at_least(1 / 20, calls), seen
    assert seen["list opened it"] >= at_least(1 / 50, calls), seen
    assert seen["every-port protocol"] >= at_least(1 / 50, calls), seen


GUARD_KEY = "sg-sentry"
PIPELINE = cloudtrail.assumed_role("terraform-ci", "run-1")


@st.composite
def tag_calls(draw: st.DrawFn, groups: list[str]) -> dict[str, Any]:
    """A real CreateTags or DeleteTags on some groups, by a person or an exempt pipeline."""
    how = draw(st.sampled_from(["CreateTags", "DeleteTags", "DeleteTags (every tag)"]))
    keys = st.sampled_from([GUARD_KEY, "team", "SG-SENTRY", f"{GUARD_KEY} "])
    values = st.sampled_from(["guard", "off", "", "Guard"])
    tags = draw(st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=3, unique_by=lambda t: t[0]))
    return {
        "operation": how,
        "groups": draw(st.lists(st.sampled_from(groups), min_size=1, max_size=3, unique=True)),
        "tags": [] if how.endswith("(every tag)") else tags,
        "scope": draw(st.sampled_from([f"{GUARD_KEY}=guard", GUARD_KEY])),
        "exempt": draw(st.booleans()),
    }


def _touches_guard(call: dict[str, Any]) -> bool:
    """The call sets the guard key, deletes it (AWS deletes key=value only where the value matches), or
    deletes every tag: worked out here from EC2's rules, not by chalicelib.guard_tags."""
    if call["operation"].endswith("(every tag)"):
        return True
    _, _, want = call["scope"].partition("=")
    created = call["operation"] == "CreateTags"
    return any(
        key == GUARD_KEY and (created or value is None or not want or value == want) for key, value in call["tags"]
    )


def _guarded_by(tags: dict[str, str], scope: str) -> bool:
    key, _, value = scope.partition("=")
    return key in tags and (not value or tags[key] == value)


def _all_tags(fw: FuzzWorld, groups: list[str]) -> dict[str, dict[str, str]]:
    """Every group's tags, in one call."""
    found = fw.world.ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    return {group["GroupId"]: {t["Key"]: t["Value"] for t in group.get("Tags", [])} for group in found}


# An eighth of the other properties' inputs: each costs some twenty calls, where the others' cost a few, and
# the space is small (three calls, four keys, five values, three groups, two scopes, two actors).
TAG_EXAMPLES = max(EXAMPLES // 8, 50)


def test_a_guarded_group_never_loses_its_guard_tag(fuzz_world: FuzzWorld) -> None:
    fw = fuzz_world
    ec2 = fw.world.ec2
    groups = [fw.world.group(f"tags-{n}") for n in range(3)]
    starting = [{GUARD_KEY: "guard", "team": "web"}, {GUARD_KEY: "off"}, {}]
    # Every group holds SSH open to the world, and an internal rule that must always stay.
    stakes = [STAKES[0], STAKES[1]]
    for group in groups:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=stakes)
    rules = fw.rules_by_group(groups)
    seen: Counter[str] = Counter()

    @settings(FUZZ, max_examples=TAG_EXAMPLES)
    @given(tag_calls(groups))
    def check(call: dict[str, Any]) -> None:
        operation = call["operation"].split(" ")[0]
        if operation == "CreateTags":
            params: dict[str, Any] = {"Tags": [{"Key": k, "Value": v or ""} for k, v in call["tags"]]}
            if not params["Tags"]:
                reject()  # EC2 refuses a CreateTags with no tags: no record would exist
        else:
            named = [{"Key": k} | ({"Value": v} if v is not None else {}) for k, v in call["tags"]]
            params = {"Tags": named} if named else {}
        GENERATED["handler: real tag calls"] += 1
        seen["calls"] += 1
        for group, held in fw.rules_by_group(groups).items():  # put back what the previous example reverted
            if STAKE_TEXTS[1] not in held:
                ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[STAKES[1]])
        ec2.delete_tags(Resources=groups)
        for group, tags in zip(groups, starting, strict=True):
            if tags:
                ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        identity = PIPELINE if call["exempt"] else cloudtrail.IAM_USER
        event = fw.world.change(operation, {"identity": identity}, Resources=call["groups"], **params)
        after_call = _all_tags(fw, groups)
        env = {"SENTRY_GROUP_TAG": call["scope"], "SENTRY_EXEMPT_PRINCIPALS": "arn:aws:iam::*:role/terraform-*"}
        handle_event(event, env=env, log=DecisionLog(io.StringIO()))

        now = _all_tags(fw, groups)
        if call["exempt"]:
            assert now == after_call  # an exempt principal's change stays as it made it
        else:
            for group, tags in zip(groups, starting, strict=True):
                if _guarded_by(tags, call["scope"]):
                    assert _guarded_by(now[group], call["scope"]), (group, tags, now[group])
        # Lockdown without a baseline judges exposure only: a group whose guard tag the call touched (and
        # that is guarded now) loses SSH open to the world; no other rule of any group ever changes.
        after = fw.rules_by_group(groups)
        for group in groups:
            assert after[group] - {STAKE_TEXTS[1]} == rules[group] - {STAKE_TEXTS[1]}
            if (
                not call["exempt"]
                and group in call["groups"]
                and _touches_guard(call)
                and _guarded_by(now[group], call["scope"])
            ):
                assert STAKE_TEXTS[1] not in after[group], (group, call)
        seen.update(["a guarded group judged at once"] * any(STAKE_TEXTS[1] not in after[g] for g in groups))
        lost = [
            g
            for g, tags in zip(groups, starting, strict=True)
            if _guarded_by(tags, call["scope"]) and not _guarded_by(after_call[g], call["scope"])
        ]
        seen.update(["guard removed, put back"] * (bool(lost) and not call["exempt"]))

    check()
    # Not vacuous: many calls really did take the guard off a group, and the sentry put it back and judged it.
    assert seen["guard removed, put back"] >= at_least(1 / 10, seen["calls"]), seen
    assert seen["a guarded group judged at once"] >= at_least(1 / 10, seen["calls"]), seen
