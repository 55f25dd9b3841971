"""The EC2 adapter: the only place that calls EC2. It takes a client and returns plain values.

Revocation is batched (one call per group and direction) and falls back to
one call per rule only when AWS says part of the batch is already gone, so
a duplicate delivery of an event is harmless. Errors never escape as
exceptions from `revoke`: each rule comes back with its own result, so the
report can say exactly what was and was not reverted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.rules import Direction, Rule, rule_from_security_group_rule, rules_from_ip_permission, to_ip_permissions

# "The rule is not there": revoking it again is a success, not a failure.
ALREADY_GONE_CODES = frozenset(
    {
        "InvalidPermission.NotFound",
        "InvalidSecurityGroupRuleId.NotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.NotFound",
    }
)
# Tag lookups are cached per warm container; a tag added to a group takes
# effect within this many seconds.
GROUP_CACHE_SECONDS = 300.0


class RevokeStatus(StrEnum):
    REVOKED = "revoked"
    ALREADY_GONE = "already gone"
    FAILED = "failed"


@dataclass(frozen=True)
class RevokeResult:
    rule: Rule
    status: RevokeStatus
    # "Code: message" from AWS when status is FAILED.
    error: str | None = None


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    name: str | None
    vpc_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class GroupCache:
    """Group descriptions by (region, group ID), kept for `ttl` seconds."""

    ttl: float = GROUP_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[float, GroupInfo | None]] = field(default_factory=dict)

    def get(self, key: tuple[str, str]) -> tuple[bool, GroupInfo | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self.clock():
            return False, None
        return True, entry[1]

    def put(self, key: tuple[str, str], info: GroupInfo | None) -> None:
        self._entries[key] = (self.clock() + self.ttl, info)

    def clear(self) -> None:
        self._entries.clear()


# One cache per warm Lambda container.
GROUP_CACHE = GroupCache()


class SecurityGroups:
    # Every EC2 action this adapter calls: the shipped IAM policy must grant
    # exactly these, and the test suite checks the calls it sees against them.
    PERMISSIONS = frozenset(
        {
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSecurityGroupRules",
        }
    )

    def __init__(self, client: Any, cache: GroupCache = GROUP_CACHE) -> None:
        self._client = client
        self._cache = cache
        self._region: str = client.meta.region_name

    def describe_group(self, group_id: str) -> GroupInfo | None:
        """The group's name and tags, or None if it does not exist. Cached."""
        key = (self._region, group_id)
        hit, info = self._cache.get(key)
        if hit:
            return info
        try:
            groups = self._client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        except ClientError as error:
            if error_code(error) not in ALREADY_GONE_CODES:
                raise
            groups = []
        info = _group_info(groups[0]) if groups else None
        self._cache.put(key, info)
        return info

    def find_group_by_name(self, name: str) -> GroupInfo | None:
        """Resolve a group named without its ID (CloudTrail logs the default VPC's groups so)."""
        try:
            groups = self._client.describe_security_groups(GroupNames=[name])["SecurityGroups"]
        except ClientError as error:
            if error_code(error) not in ALREADY_GONE_CODES:
                raise
            return None
        if not groups:
            return None
        info = _group_info(groups[0])
        self._cache.put((self._region, info.group_id), info)
        return info

    def describe_rules(self, rule_ids: Sequence[str]) -> dict[str, Rule]:
        """The current definition of each rule that still exists, by rule ID."""
        # A filter, not SecurityGroupRuleIds: the latter fails whole when one ID is gone.
        found = self._rules_where("security-group-rule-id", list(rule_ids))
        return {rule.rule_id: rule for rule in found if rule.rule_id}

    def revoke(self, group_id: str, direction: Direction, rules: Sequence[Rule]) -> list[RevokeResult]:
        """Revoke rules of one group and direction; by rule ID where known, else by permission."""
        by_id = [rule for rule in rules if rule.rule_id]
        by_permission = [rule for rule in rules if not rule.rule_id]
        results: list[RevokeResult] = []
        if by_id:
            results += self._revoke(group_id, direction, by_id)
        if by_permission:
            results += self._revoke(group_id, direction, by_permission)
        return self._verified(group_id, results)

    def _verified(self, group_id: str, results: list[RevokeResult]) -> list[RevokeResult]:
        """Look again: a rule EC2 said it revoked but that is still there is a failure, not a success."""
        if not any(result.status is RevokeStatus.REVOKED for result in results):
            return results
        try:
            present = self.group_rules(group_id)
        except (ClientError, BotoCoreError) as error:
            note = f"revoked, but the check afterwards failed: {describe_error(error)}"
            return [
                RevokeResult(r.rule, r.status, note if r.status is RevokeStatus.REVOKED else r.error) for r in results
            ]
        ids = {rule.rule_id for rule in present}
        still = [
            result
            for result in results
            if result.status is RevokeStatus.REVOKED
            and (result.rule.rule_id in ids if result.rule.rule_id else result.rule in present)
        ]
        problem = "EC2 answered that it revoked the rule, but the rule is still there"
        return [RevokeResult(r.rule, RevokeStatus.FAILED, problem) if r in still else r for r in results]

    def group_rules(self, group_id: str) -> list[Rule]:
        """Every rule of one group, both directions."""
        return self._rules_where("group-id", [group_id])

    def _rules_where(self, name: str, values: list[str]) -> list[Rule]:
        paginator = self._client.get_paginator("describe_security_group_rules")
        pages = paginator.paginate(Filters=[{"Name": name, "Values": values}])
        return [rule_from_security_group_rule(item) for page in pages for item in page["SecurityGroupRules"]]

    def _revoke(self, group_id: str, direction: Direction, rules: Sequence[Rule]) -> list[RevokeResult]:
        call = (
            self._client.revoke_security_group_egress
            if direction is Direction.EGRESS
            else self._client.revoke_security_group_ingress
        )
        if rules[0].rule_id:
            what: dict[str, Any] = {"SecurityGroupRuleIds": [rule.rule_id for rule in rules]}
        else:
            what = {"IpPermissions": to_ip_permissions(rules)}
        try:
            response = call(GroupId=group_id, **what)
        except ClientError as error:
            code = error_code(error)
            if code in ALREADY_GONE_CODES and len(rules) > 1:
                # AWS rejects the whole batch when one rule is missing:
                # find out which, one rule at a time.
                return [result for rule in rules for result in self._revoke(group_id, direction, [rule])]
            if code in ALREADY_GONE_CODES:
                return [RevokeResult(rules[0], RevokeStatus.ALREADY_GONE)]
            return [RevokeResult(rule, RevokeStatus.FAILED, describe_error(error)) for rule in rules]
        except Exception as error:  # connection, parsing, anything: the rule is reported, never lost
            return [RevokeResult(rule, RevokeStatus.FAILED, describe_error(error)) for rule in rules]
        # Newer EC2 answers success and lists what it did not find.
        try:
            unknown = {
                rule
                for permission in response.get("UnknownIpPermissions", [])
                for rule in rules_from_ip_permission(permission, direction)
            }
        except (KeyError, TypeError, ValueError) as error:
            problem = f"EC2 listed unknown permissions it could not read ({error!r}): outcome not known"
            return [RevokeResult(rule, RevokeStatus.FAILED, problem) for rule in rules]
        if response.get("Return") is False and not unknown:
            return [RevokeResult(rule, RevokeStatus.FAILED, "EC2 answered Return=false") for rule in rules]
        return [
            RevokeResult(rule, RevokeStatus.ALREADY_GONE if rule in unknown else RevokeStatus.REVOKED) for rule in rules
        ]


def _group_info(group: Mapping[str, Any]) -> GroupInfo:
    return GroupInfo(
        group_id=group["GroupId"],
        name=group.get("GroupName"),
        vpc_id=group.get("VpcId"),
        tags={tag["Key"]: tag["Value"] for tag in group.get("Tags", [])},
    )


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def describe_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{error_code(error)}: {message}".rstrip(": ")
    return f"{type(error).__name__}: {error}"
