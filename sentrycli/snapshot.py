"""`sentry snapshot`: record the rules the guarded groups have now as their approved baseline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from chalicelib import baseline
from chalicelib.baseline import ApprovedGroup
from chalicelib.ec2 import SecurityGroups
from chalicelib.events import GROUP_ID
from chalicelib.policy import GroupScope


def snapshot(ec2: SecurityGroups, scope: GroupScope, region: str, group_ids: Sequence[str] = ()) -> list[ApprovedGroup]:
    """The approved rules of the named groups, or else of every group `scope` guards, as they are now."""
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
    return [
        ApprovedGroup(group.group_id, region, group.name, tuple(rules.get(group.group_id, [])))
        for group in sorted(groups, key=lambda info: info.group_id)
    ]


def write(groups: Sequence[ApprovedGroup], path: Path) -> baseline.Baseline:
    """Merge the groups into the baseline at `path` (other groups stay as they were) and save it."""
    taken_at = datetime.now(UTC).isoformat(timespec="seconds")
    merged = baseline.load(path).with_groups(groups, taken_at)
    baseline.save(merged, path)
    return merged
