"""The EC2 adapter: the only place that calls EC2. It takes a client and returns plain values.

Revocation and restoration are batched (one call per group and direction)
and fall back to one call per rule only when AWS says part of the batch is
already done, so a duplicate delivery of an event is harmless. Errors never
escape as exceptions from `revoke`, `authorize`, `redefine` or `tag_group`:
each rule comes back with its own result, so the report can say exactly
what was and was not done. Reads never stop at a rule they cannot read:
it comes back as an `UnreadableRule` beside the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.arns import ANY, SECURITY_GROUP, SECURITY_GROUP_RULE, Permission
from chalicelib.adapters.aws import describe_error, error_code, translated
from chalicelib.domain.groups import (
    GroupInfo,
    GroupRules,
    ListedGroup,
    RestoreResult,
    RestoreStatus,
    RevokeResult,
    RevokeStatus,
)
from chalicelib.domain.policy import GroupScope
from chalicelib.domain.rules import (
    Direction,
    Rule,
    UnreadableRule,
    read_ip_permissions,
    read_security_group_rule,
    rule_from_security_group_rule,
    rules_from_ip_permission,
    to_ip_permissions,
    to_rule_request,
)

# "The rule is not there": revoking it again is a success, not a failure.
ALREADY_GONE_CODES = frozenset(
    {
        "InvalidPermission.NotFound",
        "InvalidSecurityGroupRuleId.NotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.NotFound",
    }
)
# "The rule is there already": restoring it again is a success.
ALREADY_PRESENT_CODES = frozenset({"InvalidPermission.Duplicate"})
# EC2 takes at most 200 values in one filter, and returns at most 1,000 items a page.
FILTER_VALUES_LIMIT = 200
PAGE_SIZE = 1000
# Group lookups are cached per warm container, but only ever trusted to say
# that a group IS guarded: "not guarded" always comes from a fresh read, so
# a tag removed and put back cannot leave a stale "not guarded" behind.
GROUP_CACHE_SECONDS = 300.0


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

    def drop(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


# One cache per warm Lambda container.
GROUP_CACHE = GroupCache()


class SecurityGroups:
    # Every IAM permission this adapter's calls need: the shipped policy grants exactly these (with the other
    # adapters'), `sentry doctor` checks a role against them, and the test suite checks the calls it sees.
    PERMISSIONS = (
        Permission("ec2:RevokeSecurityGroupIngress", SECURITY_GROUP),
        Permission("ec2:RevokeSecurityGroupEgress", SECURITY_GROUP),
        # Restoring approved rules (a baseline): put back, or redefined in place. A rule is a resource of its
        # own beside its group: ModifySecurityGroupRules acts on it (IAM requires it), an Authorize creates one.
        Permission("ec2:AuthorizeSecurityGroupIngress", SECURITY_GROUP),
        Permission("ec2:AuthorizeSecurityGroupIngress", SECURITY_GROUP_RULE),
        Permission("ec2:AuthorizeSecurityGroupEgress", SECURITY_GROUP),
        Permission("ec2:AuthorizeSecurityGroupEgress", SECURITY_GROUP_RULE),
        Permission("ec2:ModifySecurityGroupRules", SECURITY_GROUP),
        Permission("ec2:ModifySecurityGroupRules", SECURITY_GROUP_RULE),
        # Reads: IAM allows the Describe calls only on "*".
        Permission("ec2:DescribeSecurityGroups", ANY),
        Permission("ec2:DescribeSecurityGroupRules", ANY),
        # Putting back a guard tag someone removed from a guarded group.
        Permission("ec2:CreateTags", SECURITY_GROUP),
    )

    def __init__(self, client: Any, cache: GroupCache = GROUP_CACHE) -> None:
        self._client = client
        self._cache = cache
        self._region: str = client.meta.region_name

    @property
    def client(self) -> Any:
        """The EC2 client, for an adapter of another EC2 resource (prefix lists) that reads alongside."""
        return self._client

    def cached_group(self, group_id: str) -> GroupInfo | None:
        """The group as this container last read it (within the cache's time), with no call."""
        return self._cache.get((self._region, group_id))[1]

    @translated
    def describe_group(self, group_id: str, fresh: bool = False) -> GroupInfo | None:
        """The group's name and tags, or None if it does not exist. Cached, unless `fresh`."""
        key = (self._region, group_id)
        hit, info = self._cache.get(key)
        if hit and not fresh:
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

    @translated
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

    @translated
    def describe_rules(self, rule_ids: Sequence[str]) -> dict[str, Rule]:
        """The current definition of each rule that still exists, by rule ID."""
        # A filter, not SecurityGroupRuleIds: the latter fails whole when one ID is gone.
        found = self._rules_where("security-group-rule-id", list(rule_ids))
        return {rule.rule_id: rule for rule in found if rule.rule_id}

    def guarded_groups(self, scope: GroupScope) -> list[GroupInfo]:
        """Every existing group in this region that `scope` guards."""
        return [listed.info for listed in self.guarded_groups_with_rules(scope)]

    @translated
    def guarded_groups_with_rules(self, scope: GroupScope) -> list[ListedGroup]:
        """Every group `scope` guards, with its rules as DescribeSecurityGroups lists them: without rule IDs.

        One read per filter (a tag, or 200 IDs), in pages of 1,000 groups: EC2
        would return every group in one answer when asked for no page size,
        but advises against it, as such calls may be throttled or time out.
        """
        queries: list[list[dict[str, Any]]] = []
        if scope.all_groups:
            queries.append([])
        else:
            ids = sorted(scope.group_ids)
            queries += [[{"Name": "group-id", "Values": chunk}] for chunk in _chunks(ids, FILTER_VALUES_LIMIT)]
            if scope.tag_key is not None and scope.tag_value is not None:
                queries.append([{"Name": f"tag:{scope.tag_key}", "Values": [scope.tag_value]}])
            elif scope.tag_key is not None:
                queries.append([{"Name": "tag-key", "Values": [scope.tag_key]}])
        return self._listed(queries)

    @translated
    def groups_with_rules(self, group_ids: Sequence[str]) -> list[ListedGroup]:
        """These groups (those that exist), with their rules as DescribeSecurityGroups lists them."""
        return self._listed([[{"Name": "group-id", "Values": chunk}] for chunk in _chunks(sorted(set(group_ids)))])

    def _listed(self, queries: list[list[dict[str, Any]]]) -> list[ListedGroup]:
        found: dict[str, ListedGroup] = {}
        paginator = self._client.get_paginator("describe_security_groups")
        for filters in queries:
            options: dict[str, Any] = {"Filters": filters} if filters else {}
            for page in paginator.paginate(**options, PaginationConfig={"PageSize": PAGE_SIZE}):
                for group in page["SecurityGroups"]:
                    info = _group_info(group)
                    found[info.group_id] = ListedGroup(info, _group_rules(group))
                    self._cache.put((self._region, info.group_id), info)
        return list(found.values())

    @translated
    def rules_by_group(self, group_ids: Sequence[str] | None) -> dict[str, GroupRules]:
        """The rules of each group (None: every group in the region) with their IDs, in pages of 1,000."""
        found: dict[str, tuple[list[Rule], list[UnreadableRule]]] = {group_id: ([], []) for group_id in group_ids or ()}
        queries = [[]] if group_ids is None else [[{"Name": "group-id", "Values": c}] for c in _chunks(group_ids)]
        paginator = self._client.get_paginator("describe_security_group_rules")
        for filters in queries:
            options: dict[str, Any] = {"Filters": filters} if filters else {}
            for page in paginator.paginate(**options, PaginationConfig={"PageSize": PAGE_SIZE}):
                for item in page["SecurityGroupRules"]:
                    rules, unreadable = found.setdefault(item["GroupId"], ([], []))
                    read = read_security_group_rule(item)
                    (rules if isinstance(read, Rule) else unreadable).append(read)  # type: ignore[arg-type]
        return {group_id: GroupRules(tuple(r), tuple(u)) for group_id, (r, u) in found.items()}

    def revoke(
        self, group_id: str, direction: Direction, rules: Sequence[Rule], by_rule_id: bool = True
    ) -> list[RevokeResult]:
        """Revoke rules of one group and direction; by rule ID where known and asked for, else by permission.

        The sentry asks for IDs only for rules it just read (or cannot read at
        all); a rule from a record, or from a read minutes old, goes by permission.

        By permission, AWS removes a rule only while it still has the
        definition given: a rule changed since it was recorded or read (say,
        narrowed to 10.0.0.0/8 by its author) is left as it now is, where
        revoking its ID would remove whatever it has become. A rule is proven
        gone when EC2's answer names a rule of its very definition among those
        it revoked (`shown`); otherwise `remedy.check` reads the group
        again and checks, as EC2 saying "true" is not the last word.
        """
        by_id = [rule for rule in rules if rule.rule_id and by_rule_id]
        by_permission = [rule for rule in rules if not (rule.rule_id and by_rule_id)]
        results: list[RevokeResult] = []
        if by_id:
            results += self._revoke(group_id, direction, by_id, by_rule_id=True)
        if by_permission:
            results += self._revoke(group_id, direction, by_permission, by_rule_id=False)
        return results

    def authorize(self, group_id: str, direction: Direction, rules: Sequence[Rule]) -> list[RestoreResult]:
        """Put approved rules back, descriptions included, in one call per group and direction."""
        call = (
            self._client.authorize_security_group_egress
            if direction is Direction.EGRESS
            else self._client.authorize_security_group_ingress
        )
        try:
            response = call(GroupId=group_id, IpPermissions=to_ip_permissions(rules, descriptions=True))
        except ClientError as error:
            code = error_code(error)
            if code in ALREADY_PRESENT_CODES and len(rules) > 1:
                # One rule already back (a concurrent restore) fails the whole batch: one at a time.
                return [result for rule in rules for result in self.authorize(group_id, direction, [rule])]
            if code in ALREADY_PRESENT_CODES:
                return [RestoreResult(rules[0], RestoreStatus.ALREADY_PRESENT)]
            return [RestoreResult(rule, RestoreStatus.FAILED, describe_error(error)) for rule in rules]
        except Exception as error:  # the rule is reported, never lost
            return [RestoreResult(rule, RestoreStatus.FAILED, describe_error(error)) for rule in rules]
        created = set(_named_rules(response.get("SecurityGroupRules"), rule_from_security_group_rule))
        return [RestoreResult(rule, RestoreStatus.RESTORED, shown=rule in created) for rule in rules]

    def revoke_unreadable(
        self, group_id: str, direction: Direction, items: Sequence[UnreadableRule]
    ) -> list[RevokeResult]:
        """Revoke rules nobody can read, by their IDs: there is no definition to give."""
        return self._revoke(group_id, direction, [item for item in items if item.rule_id], by_rule_id=True)

    def tag_group(self, group_id: str, key: str, value: str) -> str | None:
        """Set one tag on a group; AWS's error in words if it could not be set, else None."""
        try:
            self._client.create_tags(Resources=[group_id], Tags=[{"Key": key, "Value": value}])
        except Exception as error:  # reported, never lost
            return describe_error(error)
        self._cache.drop((self._region, group_id))  # the next look at its tags reads them afresh
        return None

    def redefine(self, group_id: str, pairs: Sequence[tuple[Rule, Rule]]) -> list[RestoreResult]:
        """Give rules (found, approved) their approved definitions back, in place, keeping their IDs."""
        updates = [
            {"SecurityGroupRuleId": found.rule_id, "SecurityGroupRule": to_rule_request(approved)}
            for found, approved in pairs
        ]
        try:
            response = self._client.modify_security_group_rules(GroupId=group_id, SecurityGroupRules=updates)
        except ClientError as error:
            if len(pairs) > 1:
                # The batch fails whole; find out which rule AWS refuses.
                return [result for pair in pairs for result in self.redefine(group_id, [pair])]
            found, approved = pairs[0]
            if error_code(error) == "InvalidSecurityGroupRuleId.NotFound":
                # Deleted since it was read: the approved rule must be put back instead (remedy does).
                return [RestoreResult(found, RestoreStatus.RULE_GONE, describe_error(error), approved)]
            return [RestoreResult(found, RestoreStatus.FAILED, describe_error(error), approved)]
        except Exception as error:
            return [RestoreResult(f, RestoreStatus.FAILED, describe_error(error), a) for f, a in pairs]
        if response.get("Return") is False:
            return [RestoreResult(f, RestoreStatus.FAILED, "EC2 answered Return=false", a) for f, a in pairs]
        return [RestoreResult(found, RestoreStatus.RESTORED, None, approved) for found, approved in pairs]

    def group_rules(self, group_id: str) -> GroupRules:
        """Every rule of one group, both directions, with their IDs."""
        return self.rules_by_group([group_id]).get(group_id, GroupRules())

    def _rules_where(self, name: str, values: list[str]) -> list[Rule]:
        paginator = self._client.get_paginator("describe_security_group_rules")
        pages = paginator.paginate(Filters=[{"Name": name, "Values": values}])
        return [rule_from_security_group_rule(item) for page in pages for item in page["SecurityGroupRules"]]

    def _revoke(
        self, group_id: str, direction: Direction, rules: Sequence[Rule | UnreadableRule], by_rule_id: bool
    ) -> list[RevokeResult]:
        call = (
            self._client.revoke_security_group_egress
            if direction is Direction.EGRESS
            else self._client.revoke_security_group_ingress
        )
        if by_rule_id:
            what: dict[str, Any] = {"SecurityGroupRuleIds": [rule.rule_id for rule in rules]}
        else:
            what = {"IpPermissions": to_ip_permissions(rule for rule in rules if isinstance(rule, Rule))}
        try:
            response = call(GroupId=group_id, **what)
        except ClientError as error:
            code = error_code(error)
            if code in ALREADY_GONE_CODES and len(rules) > 1:
                # AWS rejects the whole batch when one rule is missing:
                # find out which, one rule at a time.
                return [result for rule in rules for result in self._revoke(group_id, direction, [rule], by_rule_id)]
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
        # What EC2 says it revoked is checked against what was meant: by definition, never by ID alone.
        revoked = _named_rules(response.get("RevokedSecurityGroupRules"), _rule_from_revoked)
        if by_rule_id:
            named = {rule.rule_id: rule for rule in revoked}
            return [_revoked_by_id(rule, unknown, named.get(rule.rule_id or "")) for rule in rules]
        by_definition = {rule: rule.rule_id for rule in revoked}
        return [_revoke_result(rule, unknown, by_definition.get(rule)) for rule in rules]  # type: ignore[arg-type]


def _revoke_result(rule: Rule | UnreadableRule, unknown: set[Rule], named_id: str | None) -> RevokeResult:
    """A successful answer's verdict on one rule; `named_id` when the answer named it among those revoked."""
    if rule in unknown:
        return RevokeResult(rule, RevokeStatus.ALREADY_GONE)
    return RevokeResult(rule, RevokeStatus.REVOKED, shown=named_id is not None, revoked_id=named_id)


def _revoked_by_id(rule: Rule | UnreadableRule, unknown: set[Rule], named: Rule | None) -> RevokeResult:
    """A revoke by ID is proven by its own ID in the answer, and only if the rule revoked was the rule meant."""
    if named is None or isinstance(rule, UnreadableRule) or named == rule:
        return _revoke_result(rule, unknown, named.rule_id if named is not None else None)
    problem = f"EC2 revoked rule {rule.rule_id} as {named}, not {rule}: it had been changed since"
    return RevokeResult(rule, RevokeStatus.FAILED, problem)


def _named_rules(items: object, read: Callable[[Mapping[str, Any]], Rule]) -> list[Rule]:
    """The rules an answer names (current EC2 lists what it revoked or created); none if it names none.

    Only a proof that spares the read afterwards: an entry this cannot read
    is skipped, and the rule it stood for is then checked by reading.
    """
    named = []
    for item in items if isinstance(items, list) else []:
        try:
            named.append(read(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return named


def _rule_from_revoked(item: Mapping[str, Any]) -> Rule:
    # A revoked rule names its referenced group flat, where a described rule nests it.
    if item.get("ReferencedGroupId"):
        item = {**item, "ReferencedGroupInfo": {"GroupId": item["ReferencedGroupId"]}}
    return rule_from_security_group_rule(item)


def _chunks(values: Sequence[str], size: int = FILTER_VALUES_LIMIT) -> list[list[str]]:
    return [list(values[start : start + size]) for start in range(0, len(values), size)]


def _group_rules(group: Mapping[str, Any]) -> GroupRules:
    rules: list[Rule] = []
    unreadable: list[UnreadableRule] = []
    for key, direction in (("IpPermissions", Direction.INGRESS), ("IpPermissionsEgress", Direction.EGRESS)):
        read, failed = read_ip_permissions(group.get(key, []), direction)
        rules += read
        unreadable += failed
    return GroupRules(tuple(rules), tuple(unreadable))


def _group_info(group: Mapping[str, Any]) -> GroupInfo:
    return GroupInfo(
        group_id=group["GroupId"],
        name=group.get("GroupName"),
        vpc_id=group.get("VpcId"),
        tags={tag["Key"]: tag["Value"] for tag in group.get("Tags", [])},
    )
