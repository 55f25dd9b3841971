"""Judging groups as they are now, and putting right what no event reported: for the sweep and for events.

EventBridge delivers CloudTrail events on a best-effort basis, and rules
added before the sentry was deployed (or while it was failing) never reach
the event handler. The sweep judges what is there now, with the same policy:

* internet mode: every rule that opens a group to the internet is revoked
  (a prefix-list rule by what its list holds now);
* lockdown mode with a baseline: the group is brought back to exactly it;
* lockdown mode without a baseline: the group is judged for exposure only
  (every rule is "a change" only when an event says when it was made, so
  only what opens it to the internet can be told from drift), and the
  summary says so;
* and, unless every group is guarded, interfaces that carry a guarded group
  beside an open one lose the open one (`side_door`).

A rule a time-boxed exception allows (`sentry allow`, the baseline's
`allowances`) stays while the exception is valid; once it has ended
(expired or revoked) the rule goes, in any mode, unless the baseline approves
it, and what is revoked says which exception ended (`drift.plan`).

Groups with an entry in the baseline are swept whatever their tags say. A
rule that cannot be read is reported on its own (and revoked by its ID in
lockdown mode), never a reason to stop sweeping the rest.

The same judgement serves events that change no rule of their own but may
open a guarded group (a guard tag removed, a prefix list widened, an
interface given another group, a record CloudTrail truncated): each asks,
through a `Selection`, for what it points at to be judged at once.

Reads are one paginated listing of the groups with their rules, one of the
prefix lists they reference, and, in lockdown mode, one more call per 200
held groups where a rule may have been modified in place or cannot be read
(for rule IDs); writes are one call per violating group and direction; the
check afterwards reads, again all at once, only the groups with changes
EC2's answers did not name. One message per sweep that found something;
silence when all is well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from chalicelib.adapters.log import Level
from chalicelib.domain.allowances import Granted, granted_on
from chalicelib.domain.baseline import ApprovedGroup, Baseline
from chalicelib.domain.config import Settings
from chalicelib.domain.drift import Fix, Step, plan
from chalicelib.domain.errors import AwsError, ListStillChanging, describe
from chalicelib.domain.groups import GroupRules, ListedGroup
from chalicelib.domain.outcome import (
    GroupOutcome,
    InterfaceOutcome,
    Summary,
    SweepResult,
    Trigger,
)
from chalicelib.domain.policy import GroupScope, Mode
from chalicelib.domain.ports import SecurityGroupsPort
from chalicelib.domain.prefix_lists import ListContents, PrefixList
from chalicelib.domain.rules import Rule, SourceKind
from chalicelib.domain.selection import Selection
from chalicelib.reports.problem import sweep_problem_report
from chalicelib.usecases.pipeline import Invocation
from chalicelib.usecases.remedy import act_on_unreadable, carry_out, check
from chalicelib.usecases.side_door import judge_interfaces

__all__ = ["judge"]


def judge(
    run: Invocation, approved: Baseline, region: str, selection: Selection, trigger: Trigger | None = None
) -> SweepResult:
    """Judge what `selection` names as it is now, and put it right. Raises (logged, reported) if AWS cannot be read."""
    moment = datetime.now(UTC)
    started = moment.isoformat(timespec="seconds")
    settings, services = run.settings, run.services
    ec2 = services.security_groups(region)
    held = approved.group_ids(region) | selection.forced
    try:
        if selection.prefix_lists:
            # The lists the event changed, first: one still being changed shows its old entries.
            _not_changing(services.prefix_lists(region).read(selection.prefix_lists), selection, run)
        listed = _selected(ec2, settings.scope, held, selection) if selection.groups else []
        # Only lockdown mode holds a group to its baseline; in internet mode an entry only keeps it guarded.
        holds = settings.policy.mode is Mode.LOCKDOWN
        entries = {g.info.group_id: approved.for_group(g.info.group_id, region) if holds else None for g in listed}
        rules = {group.info.group_id: group.rules for group in listed}
        lists = services.prefix_lists(region).read(_referenced(rules.values(), entries.values()))
        granted = {gid: granted_on(approved.allowances, gid, region, moment) for gid in rules}
        plans = {gid: _plan(rules[gid], settings, entries[gid], lists, granted[gid]) for gid in rules}
        # That read lists rules without their IDs: enough to revoke by definition and to restore. Where a
        # rule may have been modified in place, or cannot be read, the group is read again with them.
        again = [
            gid for gid, steps in plans.items() if entries[gid] and (_may_redefine(steps) or rules[gid].unreadable)
        ]
        if again:
            rules.update(ec2.rules_by_group(again))
            plans.update((gid, _plan(rules[gid], settings, entries[gid], lists, granted[gid])) for gid in again)
    except (AwsError, ValueError, KeyError) as error:
        problem = f"could not read the guarded groups, their prefix lists or interfaces: {describe(error)}"
        run.cannot_evaluate(problem, sweep_problem_report(problem, region, trigger, run.account_label()))
        raise

    drifted: list[GroupOutcome] = []
    # Lockdown without a baseline: judged for exposure only, and said so.
    unjudged = [g.info.group_id for g in listed if holds and entries[g.info.group_id] is None]
    for group in sorted(listed, key=lambda listed_group: listed_group.info.group_id):
        group_id = group.info.group_id
        steps = plans[group_id]
        # Without a baseline entry (internet mode, or lockdown judged for exposure only) a person must look.
        unreadable = act_on_unreadable(
            group_id, rules[group_id].unreadable, ec2, settings.dry_run, entries[group_id] is not None
        )
        if steps or unreadable:
            outcomes = carry_out(steps, group_id, ec2, settings.dry_run)
            entry = entries[group_id]
            count = len(entry.rules) if entry is not None else None
            mode, dry_run = settings.policy.mode, settings.dry_run
            drifted.append(
                GroupOutcome(group_id, group.info.name, mode, dry_run, tuple(outcomes), count, tuple(unreadable))
            )
    drifted = check(drifted, ec2)
    # Then the side door, once the groups themselves are put right.
    interfaces: list[InterfaceOutcome] = []
    problems = [
        f"could not read the entries of {plist} ({plist.error}): rules from it were judged as the internet, "
        "and an approved one was kept"
        for plist in lists.values()
        if plist is not None and plist.error
    ]
    if _sides(settings, selection):
        try:
            found = judge_interfaces(services, region, settings, held, selection, listed, lists)
            interfaces = found.carry_out(settings.dry_run)
        except (AwsError, ValueError, KeyError) as error:
            problem = f"could not read the interfaces of guarded workloads: {describe(error)}"
            run.say(Level.ERROR, problem, Summary.FAILED)
            problems.append(problem)
    return SweepResult(
        region=region,
        time=started,
        mode=settings.policy.mode,
        dry_run=settings.dry_run,
        groups_checked=len(listed),
        rules_checked=sum(len(found.rules) for found in rules.values()),
        drifted=tuple(drifted),
        unjudged=tuple(unjudged),
        interfaces=tuple(interfaces),
        trigger=trigger,
        problems=tuple(problems),
        account=run.account,
    )


def _not_changing(lists: Mapping[str, PrefixList | None], selection: Selection, run: Invocation) -> None:
    """Raise (logged) when a list the event names still shows its old entries: EC2 applies a change a moment later."""
    named = selection.prefix_lists or ()
    changing = sorted(list_id for list_id in named if (plist := lists.get(list_id)) is not None and plist.changing)
    if changing:
        message = f"{', '.join(changing)} still being modified: the event is retried, to judge the list's new entries"
        run.say(Level.WARNING, message, Summary.RETRY)
        raise ListStillChanging(message)


def _referenced(rules: Iterable[GroupRules], entries: Iterable[ApprovedGroup | None]) -> set[str]:
    every: list[Rule] = [rule for found in rules for rule in found.rules]
    every += [rule for entry in entries if entry is not None for rule in entry.rules]
    return {rule.source.value for rule in every if rule.source.kind is SourceKind.PREFIX_LIST}


def _selected(
    ec2: SecurityGroupsPort, scope: GroupScope, held: frozenset[str], selection: Selection
) -> list[ListedGroup]:
    """The guarded groups the selection names, with their rules."""
    if selection.group_ids is not None:
        found = ec2.groups_with_rules(sorted(selection.group_ids))
        listed = [
            g
            for g in found
            if scope.covers_id(g.info.group_id) or scope.covers_tags(g.info.tags) or g.info.group_id in held
        ]
    else:
        # A group with a baseline entry is guarded whatever its tags say: those the scope did not list
        # (untagged since) are read by ID. Usually there are none, and it costs nothing.
        listed = ec2.guarded_groups_with_rules(scope)
        missing = held - {g.info.group_id for g in listed} if not scope.all_groups else frozenset()
        listed += ec2.groups_with_rules(sorted(missing)) if missing else []
    if selection.prefix_lists is not None:
        wanted = selection.prefix_lists
        listed = [
            g
            for g in listed
            if any(r.source.kind is SourceKind.PREFIX_LIST and r.source.value in wanted for r in g.rules.rules)
        ]
    return listed


def _sides(settings: Settings, selection: Selection) -> bool:
    # With every group guarded, a group beside a guarded one is guarded itself: no side door to look for.
    return selection.interfaces and not settings.scope.all_groups


def _plan(
    found: GroupRules,
    settings: Settings,
    entry: ApprovedGroup | None,
    lists: Mapping[str, PrefixList | None],
    granted: Granted,
) -> tuple[Step, ...]:
    return plan(found.rules, settings.policy, entry, ListContents(lists), granted)


def _may_redefine(steps: tuple[Step, ...]) -> bool:
    """Whether rule IDs could turn part of this plan into a redefinition in place.

    Only a missing approved rule that has an ID, and a rule to revoke of the
    same direction and kind of source, can be one rule modified in place.
    """
    if not steps:
        return False
    missing = {(s.rule.direction, s.rule.source.kind) for s in steps if s.fix is Fix.RESTORE and s.rule.rule_id}
    return any(s.fix is Fix.REVOKE and (s.rule.direction, s.rule.source.kind) in missing for s in steps)
