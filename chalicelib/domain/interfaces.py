"""The side door: another group on an interface that carries a guarded group. Pure values and decisions.

Security groups apply per network interface, and an interface's groups add
up: an unguarded group with SSH open to the world, attached beside a
guarded group (or on another interface of the same instance), opens the
workload however well the guarded group is kept. So a workload (an
instance with all its interfaces, or an interface on its own) that carries
a guarded group may not carry a group that opens it to the internet.

What is reverted is the attachment, not the other group's rules: that
group may be attached elsewhere, to workloads nobody guards, and is not the
sentry's to change. The offending group is taken off the interface; an
interface must keep one group, so one left with none gets the workload's
guarded groups instead. A group "opens" a workload when one of its ingress
rules would be reverted in internet mode (`judge_exposure`), whatever the
mode: lockdown governs a guarded group's own rules, not its neighbours'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.policy import Policy, judge_exposure
from chalicelib.domain.prefix_lists import NO_LISTS, ListContents
from chalicelib.domain.rules import Rule


@dataclass(frozen=True)
class Interface:
    interface_id: str
    # The instance it is attached to; None for an interface on its own (not attached, or a service's).
    instance_id: str | None
    group_ids: tuple[str, ...]
    # Set for an interface a service manages (a load balancer's, a database's, a function's): only that
    # service may change its groups, so the sentry reports it instead of trying.
    managed_by: str | None = None
    vpc_id: str | None = None

    @property
    def workload(self) -> str:
        return self.instance_id or self.interface_id


@dataclass(frozen=True)
class Opening:
    """An unguarded group, and the rule of it that opens the workload."""

    group_id: str
    rule: Rule
    reason: str


@dataclass(frozen=True)
class InterfaceFix:
    interface: Interface
    # The guarded groups the workload carries, on this interface or another of the same instance.
    guarded: tuple[str, ...]
    remove: tuple[Opening, ...]
    # The groups the interface is left with; () when it would be left with none and no guarded group of the
    # workload is in its VPC (an interface's groups must be its VPC's): then it is for a person.
    keep: tuple[str, ...]
    # The workload's guarded groups in the interface's own VPC, for an interface left with no group.
    fallback: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        opened = "; ".join(f"{o.group_id} opens it: {o.rule} ({o.reason})" for o in self.remove)
        where = self.interface.interface_id + (
            f" of instance {self.interface.instance_id}" if self.interface.instance_id else ""
        )
        return f"{where} carries guarded {', '.join(self.guarded)}; {opened}"


def plan_interfaces(
    interfaces: Sequence[Interface],
    guarded: Callable[[str], bool],
    rules_of: Mapping[str, Sequence[Rule]],
    policy: Policy,
    lists: ListContents = NO_LISTS,
    vpc_of: Mapping[str, str | None] | None = None,
) -> list[InterfaceFix]:
    """The groups to take off each interface of a workload that carries a guarded group."""
    workloads: dict[str, list[Interface]] = {}
    for interface in interfaces:
        workloads.setdefault(interface.workload, []).append(interface)
    fixes = []
    for members in workloads.values():
        held = tuple(sorted({g for member in members for g in member.group_ids if guarded(g)}))
        if not held:
            continue
        for interface in members:
            remove = tuple(
                opening
                for group_id in interface.group_ids
                if not guarded(group_id)
                if (opening := opens(group_id, rules_of.get(group_id, ()), policy, lists)) is not None
            )
            if remove:
                gone = {opening.group_id for opening in remove}
                fallback = tuple(g for g in held if vpc_of is None or vpc_of.get(g) in (None, interface.vpc_id))
                keep = tuple(g for g in interface.group_ids if g not in gone) or fallback
                fixes.append(InterfaceFix(interface, held, remove, keep, fallback))
    return fixes


def opens(group_id: str, rules: Sequence[Rule], policy: Policy, lists: ListContents = NO_LISTS) -> Opening | None:
    """The first rule of the group that opens a port outside SENTRY_OPEN_PORTS to the internet, if any."""
    for rule in rules:
        decision = judge_exposure(rule, policy, lists)
        if decision.revert:
            return Opening(group_id, rule, decision.reason)
    return None
