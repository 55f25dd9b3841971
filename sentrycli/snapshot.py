"""`sentry snapshot`: record the rules the guarded groups have now as their approved baseline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.adapters import baseline_file
from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.ec2_prefix_lists import PrefixLists
from chalicelib.domain.accounts import Place, session_name
from chalicelib.domain.allowances import Allowance, granted_on
from chalicelib.domain.baseline import ApprovedGroup, Baseline
from chalicelib.domain.ids import ACCOUNT_ID, GROUP_ID
from chalicelib.domain.policy import GroupScope
from chalicelib.domain.rules import SourceKind


def snapshot(
    ec2: SecurityGroups,
    scope: GroupScope,
    region: str,
    group_ids: Sequence[str] = (),
    lists: PrefixLists | None = None,
) -> list[ApprovedGroup]:
    """The approved rules of the named groups, or else of every group `scope` guards, as they are now.

    A prefix-list rule is approved with what its list holds now (read with
    `lists`, by default through the same EC2 client): a list widened later
    no longer makes that rule the approved one.
    """
    bad = [group_id for group_id in group_ids if not GROUP_ID.fullmatch(group_id)]
    if bad:
        raise ValueError(f"not security group IDs: {', '.join(bad)}")
    wanted = GroupScope(group_ids=frozenset(group_ids)) if group_ids else scope
    if not wanted.guards_anything:
        raise ValueError("the stage guards no group (SENTRY_GROUP_IDS or SENTRY_GROUP_TAG); name groups with --group")
    groups = ec2.guarded_groups(wanted)
    absent = sorted(set(group_ids) - {group.group_id for group in groups})
    if absent:
        raise ValueError(f"no such security group in {region}: {', '.join(absent)}")
    if not groups:
        raise ValueError(f"no security group in {region} is guarded by {scope}")
    rules = ec2.rules_by_group([group.group_id for group in groups])
    unreadable = [f"{group_id}: {item}" for group_id, found in rules.items() for item in found.unreadable]
    if unreadable:
        raise ValueError(f"cannot approve rules nobody can read; fix or remove them first: {'; '.join(unreadable)}")
    referenced_lists = {
        rule.source.value
        for found in rules.values()
        for rule in found.rules
        if rule.source.kind is SourceKind.PREFIX_LIST
    }
    contents = (lists or PrefixLists(ec2.client)).read(referenced_lists) if referenced_lists else {}
    gone = sorted(list_id for list_id, plist in contents.items() if plist is None)
    if gone:
        raise ValueError(f"rules reference prefix lists EC2 does not have: {', '.join(gone)}")
    approved = []
    for group in sorted(groups, key=lambda info: info.group_id):
        found = rules.get(group.group_id)
        group_rules = found.rules if found else ()
        referenced = {r.source.value for r in group_rules if r.source.kind is SourceKind.PREFIX_LIST}
        entries = {
            list_id: tuple(entry.cidr for entry in plist.entries)
            for list_id in sorted(referenced)
            if (plist := contents[list_id]) is not None
        }
        approved.append(ApprovedGroup(group.group_id, region, group.name, group_rules, entries))
    return approved


def without_exceptions(
    groups: Sequence[ApprovedGroup], allowances: Iterable[Allowance], now: datetime
) -> tuple[list[ApprovedGroup], list[str]]:
    """The groups less each rule an exception of theirs names (valid, or ended), and a line per rule left out.

    Such a rule stands only by its exception: approved, it would stay for
    good once the exception ended, where the sweep is to revoke it then. A
    rule only a void exception names (`Allowance.void_reason`) is approved
    as any other. Exceptions are never prefix-list rules, so the groups'
    prefix-list entries stay as they are.
    """
    allowances = tuple(allowances)
    kept: list[ApprovedGroup] = []
    said: list[str] = []
    for group in groups:
        granted = granted_on(allowances, group.group_id, group.region, now)
        standing = {**granted.expired, **granted.valid}
        for rule in group.rules:
            if rule in standing:
                said.append(f"left out {rule} on {group.group_id}: it stands by exception {standing[rule].label}")
        kept.append(replace(group, rules=tuple(rule for rule in group.rules if rule not in standing)))
    return kept, said


def write(groups: Sequence[ApprovedGroup], path: Path) -> Baseline:
    """Merge the groups into the baseline at `path` (other groups stay as they were) and save it."""
    taken_at = datetime.now(UTC).isoformat(timespec="seconds")
    merged = baseline_file.load(path).with_groups(groups, taken_at)
    baseline_file.save(merged, path)
    return merged


def ec2_client(client: Callable[..., Any], region: str, account: str | None, role: str) -> Any:
    """EC2 in `region` of the caller's account, or of `account` through `role` (assumed as sg-sentry-snapshot)."""
    if account is None:
        return client("ec2", region)
    if not ACCOUNT_ID.fullmatch(account):
        raise ValueError(f"--account {account!r} is not a 12-digit account ID")
    made = client("sts", region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=session_name("snapshot")
    )["Credentials"]
    import boto3

    return boto3.client(
        "ec2",
        region_name=region,
        aws_access_key_id=made["AccessKeyId"],
        aws_secret_access_key=made["SecretAccessKey"],
        aws_session_token=made["SessionToken"],
    )


def write_table(groups: Sequence[ApprovedGroup], dynamodb: Any, table: str, account: str) -> str:
    """Put the groups' entries in the table, under their account and region; where, in words."""
    taken_at = datetime.now(UTC).isoformat(timespec="seconds")
    by_region: dict[str, list[ApprovedGroup]] = {}
    for group in groups:
        by_region.setdefault(group.region, []).append(group)
    store = BaselineTable(dynamodb, table)
    for region, entries in sorted(by_region.items()):
        store.put(Place(account, region), entries, taken_at)
    return f"table {table}: {', '.join(f'{account}/{region}' for region in sorted(by_region))}"
