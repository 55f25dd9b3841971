"""The side door, swept: interfaces of guarded workloads that carry an open group beside a guarded one.

Reads: the interfaces (every one in the region, in pages of 1,000, or those
of the workloads an event names), the groups on them that are not already
known (one DescribeSecurityGroups per 200), and the prefix lists those
reference. Writes: one ModifyNetworkInterfaceAttribute per interface to
put right, checked afterwards by reading those interfaces again. What is
decided, and why the attachment is what goes, is in `interfaces`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.ec2 import ListedGroup
from chalicelib.ec2_interfaces import NetworkInterfaces
from chalicelib.interfaces import InterfaceFix, plan_interfaces
from chalicelib.outcome import InterfaceOutcome, Outcome
from chalicelib.prefix_lists import ListContents, PrefixList
from chalicelib.rules import Direction, SourceKind

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.services import Aws
    from chalicelib.sweep import Selection


@dataclass(frozen=True)
class InterfacePlan:
    fixes: tuple[InterfaceFix, ...]
    adapter: NetworkInterfaces

    def carry_out(self, dry_run: bool) -> list[InterfaceOutcome]:
        """Take the offending groups off each interface, then check that they are off."""
        if dry_run:
            return [InterfaceOutcome(fix, Outcome.WOULD_REVERT) for fix in self.fixes]
        done = []
        for fix in self.fixes:
            error = self.adapter.set_groups(fix.interface.interface_id, fix.keep)
            done.append(InterfaceOutcome(fix, Outcome.FAILED if error else Outcome.REVERTED, error))
        changed = [item.fix.interface.interface_id for item in done if item.outcome is Outcome.REVERTED]
        if not changed:
            return done
        try:
            now = {i.interface_id: i for i in self.adapter.of_workloads((), changed)}
        except Exception as error:  # the change stands; only the proof is missing, and the report says so
            note = f"done, but the check afterwards failed: {error}"
            return [InterfaceOutcome(i.fix, i.outcome, note) if i.outcome is Outcome.REVERTED else i for i in done]
        checked = []
        for item in done:
            current = now.get(item.fix.interface.interface_id)
            still = {o.group_id for o in item.fix.remove} & set(current.group_ids if current else ())
            if item.outcome is Outcome.REVERTED and still:
                problem = f"EC2 answered that it took {', '.join(sorted(still))} off, but it is still there"
                item = InterfaceOutcome(item.fix, Outcome.FAILED, problem)
            checked.append(item)
        return checked


def judge_interfaces(
    services: Aws,
    region: str,
    settings: Settings,
    held: frozenset[str],
    selection: Selection,
    listed: Sequence[ListedGroup],
    lists: Mapping[str, PrefixList | None],
) -> InterfacePlan:
    """Which interfaces to put right. `listed` are the guarded groups already read (all of them, for a sweep)."""
    adapter = services.interfaces(region)
    if selection.instance_ids is None and selection.interface_ids is None:
        found = adapter.every()
    else:
        found = adapter.of_workloads(selection.instance_ids or (), selection.interface_ids or ())
    known = {group.info.group_id: group for group in listed}
    on_interfaces = {group_id for interface in found for group_id in interface.group_ids}
    scope = settings.scope
    if selection.group_ids is None and selection.prefix_lists is None and selection.groups:
        guarded = {group_id for group_id in on_interfaces if group_id in known}  # every guarded group is known
    else:
        unknown = sorted(on_interfaces - set(known))
        known.update((g.info.group_id, g) for g in services.security_groups(region).groups_with_rules(unknown))
        guarded = {
            group_id
            for group_id in on_interfaces
            if group_id in known
            and (scope.covers_id(group_id) or scope.covers_tags(known[group_id].info.tags) or group_id in held)
        }
    workloads = {interface.workload for interface in found if guarded.intersection(interface.group_ids)}
    found = [interface for interface in found if interface.workload in workloads]
    beside = sorted({g for interface in found for g in interface.group_ids if g not in guarded and g not in known})
    if beside:
        known.update((g.info.group_id, g) for g in services.security_groups(region).groups_with_rules(beside))
    rules_of = {
        group_id: [rule for rule in group.rules.rules if rule.direction is Direction.INGRESS]
        for group_id, group in known.items()
        if group_id not in guarded
    }
    wanted = {
        rule.source.value for rules in rules_of.values() for rule in rules if rule.source.kind is SourceKind.PREFIX_LIST
    }
    contents = dict(lists)
    missing = sorted(wanted - set(contents))
    if missing:
        contents.update(services.prefix_lists(region).read(missing))
    fixes = plan_interfaces(found, guarded.__contains__, rules_of, settings.policy, ListContents(contents))
    return InterfacePlan(tuple(fixes), adapter)
