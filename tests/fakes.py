"""In-memory stand-ins for the ports (`chalicelib.domain.ports`), for unit tests of the use cases.

They answer as current EC2 does where the use cases care: a revoke by
definition removes only a rule of that very definition and names it in
the answer; a revoke of a rule that is not there is "already gone"; a
restore names the rule it created. Reads fail with `AwsError` and writes
return their error when a test sets a fault; every call is counted, so a
test can say how many reads and writes a branch made. moto stays the AWS
of the functional and end-to-end tests; these make each branch of a use
case a matter of milliseconds.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.adapters.baseline_file import FileBaselines
from chalicelib.domain.change import Actor
from chalicelib.domain.config import Settings
from chalicelib.domain.errors import AwsError, NotificationFailed
from chalicelib.domain.groups import (
    GroupInfo,
    GroupRules,
    ListedGroup,
    RestoreResult,
    RestoreStatus,
    RevokeResult,
    RevokeStatus,
)
from chalicelib.domain.interfaces import Interface
from chalicelib.domain.policy import GroupScope
from chalicelib.domain.ports import Message
from chalicelib.domain.prefix_lists import PrefixList
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind, UnreadableRule

ACCOUNT = "123456789012"
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):017x}"


@dataclass
class FakeGroup:
    info: GroupInfo
    rules: list[Rule] = field(default_factory=list)


class FakeSecurityGroups:
    """The security groups of one region, in memory."""

    def __init__(self) -> None:
        self.groups: dict[str, FakeGroup] = {}
        self.calls: Counter[str] = Counter()
        # Operation name -> the error it fails with (reads raise it as AwsError, writes return it).
        self.faults: dict[str, str] = {}
        self._cache: dict[str, GroupInfo | None] = {}

    # What a test sets up and reads back.

    def add_group(self, name: str, tags: Mapping[str, str] | None = None, vpc_id: str = "vpc-1") -> str:
        group_id = new_id("sg")
        self.groups[group_id] = FakeGroup(GroupInfo(group_id, name, vpc_id, dict(tags or {})))
        return group_id

    def add_rule(self, group_id: str, rule: Rule) -> Rule:
        """The rule, as EC2 would hold it: with an ID of its own."""
        held = replace(rule, rule_id=new_id("sgr"))
        self.groups[group_id].rules.append(held)
        return held

    def rules_of(self, group_id: str) -> list[Rule]:
        return list(self.groups[group_id].rules)

    def set_tags(self, group_id: str, tags: Mapping[str, str]) -> None:
        group = self.groups[group_id]
        group.info = replace(group.info, tags=dict(tags))

    # The port.

    def cached_group(self, group_id: str) -> GroupInfo | None:
        return self._cache.get(group_id)

    def describe_group(self, group_id: str, fresh: bool = False) -> GroupInfo | None:
        if not fresh and group_id in self._cache:
            return self._cache[group_id]
        self._read("DescribeSecurityGroups")
        group = self.groups.get(group_id)
        self._cache[group_id] = group.info if group else None
        return self._cache[group_id]

    def find_group_by_name(self, name: str) -> GroupInfo | None:
        self._read("DescribeSecurityGroups")
        return next((g.info for g in self.groups.values() if g.info.name == name), None)

    def describe_rules(self, rule_ids: Sequence[str]) -> dict[str, Rule]:
        self._read("DescribeSecurityGroupRules")
        every = [rule for group in self.groups.values() for rule in group.rules]
        return {rule.rule_id: rule for rule in every if rule.rule_id in rule_ids and rule.rule_id}

    def guarded_groups_with_rules(self, scope: GroupScope) -> list[ListedGroup]:
        self._read("DescribeSecurityGroups")
        return [
            self._listed(group)
            for group in self.groups.values()
            if scope.covers_id(group.info.group_id) or scope.covers_tags(group.info.tags)
        ]

    def groups_with_rules(self, group_ids: Sequence[str]) -> list[ListedGroup]:
        self._read("DescribeSecurityGroups")
        return [self._listed(self.groups[gid]) for gid in sorted(set(group_ids)) if gid in self.groups]

    def rules_by_group(self, group_ids: Sequence[str] | None) -> dict[str, GroupRules]:
        self._read("DescribeSecurityGroupRules")
        wanted = (
            self.groups if group_ids is None else {gid: self.groups[gid] for gid in group_ids if gid in self.groups}
        )
        found = {gid: GroupRules(tuple(group.rules)) for gid, group in wanted.items()}
        return {**{gid: GroupRules() for gid in group_ids or ()}, **found}

    def group_rules(self, group_id: str) -> GroupRules:
        return self.rules_by_group([group_id]).get(group_id, GroupRules())

    def revoke(
        self, group_id: str, direction: Direction, rules: Sequence[Rule], by_rule_id: bool = True
    ) -> list[RevokeResult]:
        operation = "RevokeSecurityGroupEgress" if direction is Direction.EGRESS else "RevokeSecurityGroupIngress"
        self.calls[operation] += 1
        if operation in self.faults:
            return [RevokeResult(rule, RevokeStatus.FAILED, self.faults[operation]) for rule in rules]
        held = self.groups[group_id].rules
        results = []
        for rule in rules:
            if by_rule_id and rule.rule_id:
                match = next((r for r in held if r.rule_id == rule.rule_id), None)
            else:
                match = next((r for r in held if r == rule), None)
            if match is None:
                results.append(RevokeResult(rule, RevokeStatus.ALREADY_GONE))
                continue
            held.remove(match)
            results.append(RevokeResult(rule, RevokeStatus.REVOKED, shown=True, revoked_id=match.rule_id))
        return results

    def revoke_unreadable(
        self, group_id: str, direction: Direction, items: Sequence[UnreadableRule]
    ) -> list[RevokeResult]:
        return [RevokeResult(item, RevokeStatus.ALREADY_GONE) for item in items if item.rule_id]

    def authorize(self, group_id: str, direction: Direction, rules: Sequence[Rule]) -> list[RestoreResult]:
        operation = "AuthorizeSecurityGroupEgress" if direction is Direction.EGRESS else "AuthorizeSecurityGroupIngress"
        self.calls[operation] += 1
        if operation in self.faults:
            return [RestoreResult(rule, RestoreStatus.FAILED, self.faults[operation]) for rule in rules]
        results = []
        for rule in rules:
            if rule in self.groups[group_id].rules:
                results.append(RestoreResult(rule, RestoreStatus.ALREADY_PRESENT))
            else:
                self.add_rule(group_id, rule)
                results.append(RestoreResult(rule, RestoreStatus.RESTORED, shown=True))
        return results

    def redefine(self, group_id: str, pairs: Sequence[tuple[Rule, Rule]]) -> list[RestoreResult]:
        self.calls["ModifySecurityGroupRules"] += 1
        held = self.groups[group_id].rules
        results = []
        for found, approved in pairs:
            index = next((i for i, rule in enumerate(held) if rule.rule_id == found.rule_id), None)
            if index is None:
                results.append(RestoreResult(found, RestoreStatus.RULE_GONE, "gone", approved))
                continue
            held[index] = replace(approved, rule_id=found.rule_id)
            results.append(RestoreResult(found, RestoreStatus.RESTORED, None, approved))
        return results

    def tag_group(self, group_id: str, key: str, value: str) -> str | None:
        self.calls["CreateTags"] += 1
        if "CreateTags" in self.faults:
            return self.faults["CreateTags"]
        group = self.groups[group_id]
        group.info = replace(group.info, tags={**group.info.tags, key: value})
        self._cache.pop(group_id, None)
        return None

    def _listed(self, group: FakeGroup) -> ListedGroup:
        self._cache[group.info.group_id] = group.info
        # As DescribeSecurityGroups lists them: without rule IDs.
        return ListedGroup(group.info, GroupRules(tuple(replace(rule, rule_id=None) for rule in group.rules)))

    def _read(self, operation: str) -> None:
        self.calls[operation] += 1
        if operation in self.faults:
            raise AwsError(self.faults[operation], self.faults[operation].split(":")[0])

    @property
    def writes(self) -> int:
        return sum(count for op, count in self.calls.items() if not op.startswith("Describe"))


class FakePrefixLists:
    def __init__(self, lists: Mapping[str, PrefixList] | None = None) -> None:
        self.lists = dict(lists or {})
        self.calls = 0

    def read(self, list_ids: Iterable[str]) -> dict[str, PrefixList | None]:
        wanted = sorted(set(list_ids))
        if wanted:
            self.calls += 1
        return {list_id: self.lists.get(list_id) for list_id in wanted}


class FakeInterfaces:
    def __init__(self, interfaces: Sequence[Interface] = ()) -> None:
        self.interfaces = {i.interface_id: i for i in interfaces}

    def every(self) -> list[Interface]:
        return list(self.interfaces.values())

    def of_workloads(
        self, instance_ids: Iterable[str], interface_ids: Iterable[str], carrying: Iterable[str] = ()
    ) -> list[Interface]:
        instances, named, groups = set(instance_ids), set(interface_ids), set(carrying)
        return [
            i
            for i in self.interfaces.values()
            if i.instance_id in instances or i.interface_id in named or groups.intersection(i.group_ids)
        ]

    def these(self, interface_ids: Iterable[str]) -> list[Interface]:
        return [self.interfaces[i] for i in interface_ids if i in self.interfaces]

    def set_groups(self, interface_id: str, group_ids: Sequence[str]) -> str | None:
        self.interfaces[interface_id] = replace(self.interfaces[interface_id], group_ids=tuple(group_ids))
        return None


class FakeNotifier:
    """Keeps what it was given to publish; fails every publish when `failure` is set."""

    def __init__(self) -> None:
        self.published: list[Message] = []
        self.failure: str | None = None

    def publish(self, report: Message) -> str:
        if self.failure is not None:
            raise NotificationFailed(self.failure)
        self.published.append(report)
        return f"message-{len(self.published)}"


@dataclass
class FakeIdentity:
    own_arn: str | None = None

    def made(self, actor: Actor) -> bool:
        return self.own_arn is not None and actor.arn == self.own_arn


class FakeOrganization:
    def active_accounts(self) -> dict[str, str]:
        return {ACCOUNT: "one"}


@dataclass
class FakeAws:
    """Every port of one region, in memory: what a use case is given in a unit test."""

    ec2: FakeSecurityGroups = field(default_factory=FakeSecurityGroups)
    lists: FakePrefixLists = field(default_factory=FakePrefixLists)
    nics: FakeInterfaces = field(default_factory=FakeInterfaces)
    sns: FakeNotifier = field(default_factory=FakeNotifier)
    identity: FakeIdentity = field(default_factory=FakeIdentity)

    def security_groups(self, region: str) -> FakeSecurityGroups:
        return self.ec2

    def prefix_lists(self, region: str) -> FakePrefixLists:
        return self.lists

    def interfaces(self, region: str) -> FakeInterfaces:
        return self.nics

    def notifier(self, topic_arn: str) -> FakeNotifier:
        return self.sns

    def own_identity(self, region: str, env: Mapping[str, str]) -> FakeIdentity:
        return self.identity

    def home_account(self) -> str:
        return ACCOUNT

    def acting_in(self, account: str, session: str, role: str) -> FakeAws:
        raise AwsError(f"no member account {account} in memory (tests/fakes.py is one account)", "AccessDenied")

    def organization(self) -> FakeOrganization:
        return FakeOrganization()

    def baselines(self, settings: Settings, home: Callable[[], str]) -> FileBaselines:
        return FileBaselines(settings.baseline_path, home)


def ingress(protocol: str, port: int | None, cidr: str) -> Rule:
    kind = SourceKind.CIDR_IPV6 if ":" in cidr else SourceKind.CIDR_IPV4
    return Rule.build(Direction.INGRESS, protocol, port, port, Source(kind, cidr))


def security_group_rule(group_id: str, rule: Rule) -> dict[str, Any]:
    """A rule as EC2's answer (and so CloudTrail's securityGroupRuleSet) names it."""
    item: dict[str, Any] = {
        "SecurityGroupRuleId": rule.rule_id,
        "GroupId": group_id,
        "GroupOwnerId": ACCOUNT,
        "IsEgress": rule.direction is Direction.EGRESS,
        "IpProtocol": rule.protocol,
        "FromPort": -1 if rule.from_port is None else rule.from_port,
        "ToPort": -1 if rule.to_port is None else rule.to_port,
    }
    item["CidrIpv6" if rule.source.kind is SourceKind.CIDR_IPV6 else "CidrIpv4"] = rule.source.value
    return item
