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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chalicelib.domain.groups import ListedGroup
from chalicelib.domain.interfaces import Interface, InterfaceFix, plan_interfaces
from chalicelib.domain.outcome import InterfaceOutcome, Outcome
from chalicelib.domain.ports import InterfacesPort
from chalicelib.domain.prefix_lists import ListContents, PrefixList
from chalicelib.domain.rules import Direction, SourceKind
from chalicelib.domain.selection import Selection

if TYPE_CHECKING:
    from chalicelib.domain.config import Settings
    from chalicelib.domain.ports import Aws


@dataclass(frozen=True)
class InterfacePlan:
    fixes: tuple[InterfaceFix, ...]
    adapter: InterfacesPort

    def carry_out(self, dry_run: bool) -> list[InterfaceOutcome]:
        """Take the offending groups off each interface, then check that it carries exactly what it should.

        The interfaces are read again just before the change: setting an
        interface's groups replaces them all, so the groups to keep come from
        that read, not from one that may be minutes old (a group added since
        stays). An interface a service manages is reported, not changed.
        """
        if not self.fixes:
            return []
        if dry_run:
            return [
                InterfaceOutcome(
                    fix, Outcome.CANNOT_CHANGE if fix.interface.managed_by or not fix.keep else Outcome.WOULD_REVERT
                )
                for fix in self.fixes
            ]
        now = {i.interface_id: i for i in self.adapter.these(f.interface.interface_id for f in self.fixes)}
        done = [self._fix(fix, now.get(fix.interface.interface_id)) for fix in self.fixes]
        changed = [item.fix.interface.interface_id for item in done if item.outcome is Outcome.REVERTED]
        if not changed:
            return done
        try:
            after = {i.interface_id: i for i in self.adapter.these(changed)}
        except Exception as error:  # the change stands; only the proof is missing, and the report says so
            note = f"done, but the check afterwards failed: {error}"
            return [InterfaceOutcome(i.fix, i.outcome, note) if i.outcome is Outcome.REVERTED else i for i in done]
        return [self._checked(item, after.get(item.fix.interface.interface_id)) for item in done]

    def _fix(self, fix: InterfaceFix, now: Interface | None) -> InterfaceOutcome:
        if now is None:
            return InterfaceOutcome(fix, Outcome.ALREADY_GONE, "the interface no longer exists")
        offending = [o for o in fix.remove if o.group_id in now.group_ids]
        if not offending:
            return InterfaceOutcome(
                replace(fix, keep=now.group_ids), Outcome.ALREADY_GONE, "the groups are off already"
            )
        gone = {o.group_id for o in offending}
        keep = tuple(g for g in now.group_ids if g not in gone) or fix.fallback
        fix = replace(fix, interface=now, remove=tuple(offending), keep=keep)
        if now.managed_by:
            problem = f"{now.managed_by} manages this interface: take the group off where it is managed"
            return InterfaceOutcome(fix, Outcome.CANNOT_CHANGE, problem)
        if not keep:
            problem = "no guarded group of the workload is in this interface's VPC: detach it, or set its groups"
            return InterfaceOutcome(fix, Outcome.CANNOT_CHANGE, problem)
        error = self.adapter.set_groups(now.interface_id, keep)
        return InterfaceOutcome(fix, Outcome.FAILED if error else Outcome.REVERTED, error)

    @staticmethod
    def _checked(item: InterfaceOutcome, after: Interface | None) -> InterfaceOutcome:
        if item.outcome is not Outcome.REVERTED or after is None:
            return item
        if set(after.group_ids) != set(item.fix.keep):
            carried = ", ".join(after.group_ids)
            problem = f"EC2 answered that it set {', '.join(item.fix.keep)}, but the interface carries {carried}"
            return InterfaceOutcome(item.fix, Outcome.FAILED, problem)
        return item


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
    if selection.every_interface:
        found = adapter.every()
    else:
        found = adapter.of_workloads(
            selection.instance_ids or (), selection.interface_ids or (), carrying=selection.beside or ()
        )
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
    vpc_of = {group_id: group.info.vpc_id for group_id, group in known.items()}
    fixes = plan_interfaces(found, guarded.__contains__, rules_of, settings.policy, ListContents(contents), vpc_of)
    return InterfacePlan(tuple(fixes), adapter)
