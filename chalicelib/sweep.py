"""The sweep: judge the guarded groups as they are now, and put right what no event reported.

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
  beside an open one lose the open one (`sweep_interfaces`).

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

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import baseline
from chalicelib.baseline import ApprovedGroup, Baseline, BaselineError
from chalicelib.config import ConfigError, Settings
from chalicelib.drift import Fix, Step, plan
from chalicelib.ec2 import GroupRules, ListedGroup, SecurityGroups, describe_error
from chalicelib.logs import DecisionLog
from chalicelib.outcome import (
    FAILURES,
    InterfaceOutcome,
    Outcome,
    SweepFailed,
    SweepResult,
    SweptGroup,
    TagOutcome,
    Trigger,
    UnreadableOutcome,
    summary_word,
)
from chalicelib.policy import GroupScope, Mode
from chalicelib.prefix_lists import ListContents, PrefixList
from chalicelib.remedy import (
    UNREADABLE_LEFT,
    UNREADABLE_REVOKED,
    carry_out,
    revoke_unreadable,
    settle,
    unverified,
    verified_unreadable,
)
from chalicelib.report import plural, rule_document
from chalicelib.rules import Rule, SourceKind
from chalicelib.services import Aws, BotoAws, publish
from chalicelib.sweep_interfaces import judge_interfaces
from chalicelib.sweep_report import build_sweep_report, sweep_problem_report

__all__ = ["EVERYTHING", "Selection", "SweepFailed", "SweepResult", "SweptGroup", "judge", "sweep"]


@dataclass(frozen=True)
class Selection:
    """What to judge: every guarded group and interface (the schedule), or what one event points at."""

    groups: bool = True
    # None: every guarded group. Otherwise these (those of them that are guarded).
    group_ids: frozenset[str] | None = None
    # Only groups with a rule that references one of these lists.
    prefix_lists: frozenset[str] | None = None
    # Groups judged as guarded whatever their tags say (a guard tag removed, even if it could not be put back).
    forced: frozenset[str] = frozenset()
    interfaces: bool = True
    # All None: every interface. Otherwise these instances' interfaces, these interfaces' workloads, and the
    # workloads of the interfaces that carry one of the `beside` groups.
    instance_ids: frozenset[str] | None = None
    interface_ids: frozenset[str] | None = None
    beside: frozenset[str] | None = None

    @property
    def every_interface(self) -> bool:
        return self.instance_ids is None and self.interface_ids is None and self.beside is None


EVERYTHING = Selection()


def sweep(
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    region: str | None = None,
    approved: Baseline | None = None,
) -> SweepResult:
    """Sweep the guarded groups of one region (the function's own, by default).

    `approved` is the baseline to hold groups to; by default the deployed one
    (`sentry sweep` passes the project's).

    Raises `ConfigError` or `BaselineError` for bad settings, the AWS error
    when the groups cannot be read, `SweepFailed` when a rule could not be
    put right and `NotificationFailed` when SNS failed: each is logged first.
    """
    env = os.environ if env is None else env
    services = services or BotoAws()
    log = log or DecisionLog()
    try:
        settings = Settings.from_env(env)
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError("the sweep needs a region: AWS_REGION is not set")
        approved = baseline.load(settings.baseline_path) if approved is None else approved
    except (ConfigError, BaselineError) as error:
        log.write("ERROR", str(error), "config-error")
        raise
    context = {"event_name": "sweep", "dry_run": settings.dry_run}
    if not settings.scope.guards_anything:
        log.write("WARNING", "no security group is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG", "ignored")
        return SweepResult(region, _now(), settings.policy.mode.value, settings.dry_run, 0, 0)
    result = judge(settings, approved, region, services, log, EVERYTHING, context)
    finish(result, settings, services, log, context)
    return result


def judge(
    settings: Settings,
    approved: Baseline,
    region: str,
    services: Aws,
    log: DecisionLog,
    selection: Selection,
    context: dict[str, Any],
    trigger: Trigger | None = None,
) -> SweepResult:
    """Judge what `selection` names as it is now, and put it right. Raises (logged, reported) if AWS cannot be read."""
    started = _now()
    ec2 = services.security_groups(region)
    held = approved.group_ids(region) | selection.forced
    try:
        if selection.prefix_lists:
            # The lists the event changed, first: one still being changed shows its old entries.
            _not_changing(services.prefix_lists(region).read(selection.prefix_lists), selection, log, context)
        listed = _selected(ec2, settings.scope, held, selection) if selection.groups else []
        # Only lockdown mode holds a group to its baseline; in internet mode an entry only keeps it guarded.
        holds = settings.policy.mode is Mode.LOCKDOWN
        entries = {g.info.group_id: approved.for_group(g.info.group_id, region) if holds else None for g in listed}
        rules = {group.info.group_id: group.rules for group in listed}
        lists = services.prefix_lists(region).read(_referenced(rules.values(), entries.values()))
        plans = {group_id: _plan(rules[group_id], settings, entries[group_id], lists) for group_id in rules}
        # That read lists rules without their IDs: enough to revoke by definition and to restore. Where a
        # rule may have been modified in place, or cannot be read, the group is read again with them.
        again = [
            gid for gid, steps in plans.items() if entries[gid] and (_may_redefine(steps) or rules[gid].unreadable)
        ]
        if again:
            rules.update(ec2.rules_by_group(again))
            plans.update((gid, _plan(rules[gid], settings, entries[gid], lists)) for gid in again)
    except (ClientError, BotoCoreError, ValueError, KeyError) as error:
        problem = f"could not read the guarded groups, their prefix lists or interfaces: {describe_error(error)}"
        log.write("ERROR", problem, "failed", **context)
        publish(sweep_problem_report(problem, region, trigger), settings, services, log, context)
        raise

    drifted: list[SweptGroup] = []
    # Lockdown without a baseline: judged for exposure only, and said so.
    unjudged = [g.info.group_id for g in listed if holds and entries[g.info.group_id] is None]
    for group in sorted(listed, key=lambda listed_group: listed_group.info.group_id):
        group_id = group.info.group_id
        steps = plans[group_id]
        unreadable = _unreadable(group_id, rules[group_id], entries[group_id], ec2, settings.dry_run)
        if steps or unreadable:
            outcomes = carry_out(steps, group_id, ec2, settings.dry_run, verify=False)
            entry = entries[group_id]
            count = len(entry.rules) if entry is not None else None
            drifted.append(SweptGroup(group_id, group.info.name, tuple(outcomes), count, tuple(unreadable)))
    drifted = _verify(drifted, ec2)
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
        except (ClientError, BotoCoreError, ValueError, KeyError) as error:
            problem = f"could not read the interfaces of guarded workloads: {describe_error(error)}"
            log.write("ERROR", problem, "failed", **context)
            problems.append(problem)
    return SweepResult(
        region=region,
        time=started,
        mode=settings.policy.mode.value,
        dry_run=settings.dry_run,
        groups_checked=len(listed),
        rules_checked=sum(len(found.rules) for found in rules.values()),
        drifted=tuple(drifted),
        unjudged=tuple(unjudged),
        interfaces=tuple(interfaces),
        trigger=trigger,
        problems=tuple(problems),
    )


def finish(
    result: SweepResult,
    settings: Settings,
    services: Aws,
    log: DecisionLog,
    context: dict[str, Any],
    failure: type[RuntimeError] = SweepFailed,
) -> None:
    """Log what was done, publish one message if it is worth one, and raise if anything failed."""
    for swept in result.drifted:
        level = "ERROR" if any(item.outcome in FAILURES for item in swept.outcomes) else "INFO"
        documents = [rule_document(item) for item in swept.rules]
        word = summary_word(swept.outcomes) or "clean"
        log.write(
            level,
            f"{_who(result)}: {word} on {swept.group_id}",
            word,
            group_id=swept.group_id,
            rules=documents,
            **context,
        )
    for item in result.interfaces:
        level = "ERROR" if item.outcome in FAILURES else "INFO"
        word = summary_word((item,)) or "clean"
        log.write(level, f"{_who(result)}: {word}: {item.fix.reason}", word, **context)
    said = (
        f"{_who(result)} of {result.region}: {plural(result.groups_checked, 'group')}, "
        f"{plural(result.rules_checked, 'rule')}, {len(result.drifted)} drifted, "
        f"{len(result.unjudged)} judged for exposure only (lockdown without a baseline), "
        f"{plural(len(result.interfaces), 'interface')} opening a guarded workload"
    )
    level = "ERROR" if result.failed else "WARNING" if result.unjudged else "INFO"
    prefix = "" if result.trigger else "sweep-"
    log.write(level, said, f"{prefix}{result.summary}", **context)
    if result.worth_reporting:
        published = publish(build_sweep_report(result), settings, services, log, context)
        if published is not None and not result.failed:
            raise published
    if result.failed:
        raise failure(f"the {_who(result)} of {result.region} {_failed_words(result)}; see the log")


class ListStillChanging(RuntimeError):
    """A prefix list an event changed is still being modified: Lambda retries the event, to judge its new entries."""


def _not_changing(
    lists: Mapping[str, PrefixList | None], selection: Selection, log: DecisionLog, context: dict[str, Any]
) -> None:
    """Raise (logged) when a list the event names still shows its old entries: EC2 applies a change a moment later."""
    named = selection.prefix_lists or ()
    changing = sorted(list_id for list_id in named if (plist := lists.get(list_id)) is not None and plist.changing)
    if changing:
        message = f"{', '.join(changing)} still being modified: the event is retried, to judge the list's new entries"
        log.write("WARNING", message, "retry", **context)
        raise ListStillChanging(message)


def _referenced(rules: Iterable[GroupRules], entries: Iterable[ApprovedGroup | None]) -> set[str]:
    every: list[Rule] = [rule for found in rules for rule in found.rules]
    every += [rule for entry in entries if entry is not None for rule in entry.rules]
    return {rule.source.value for rule in every if rule.source.kind is SourceKind.PREFIX_LIST}


def _selected(ec2: SecurityGroups, scope: GroupScope, held: frozenset[str], selection: Selection) -> list[ListedGroup]:
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
    found: GroupRules, settings: Settings, entry: ApprovedGroup | None, lists: Mapping[str, PrefixList | None]
) -> tuple[Step, ...]:
    return plan(found.rules, settings.policy, entry, ListContents(lists))


def _unreadable(
    group_id: str, found: GroupRules, entry: ApprovedGroup | None, ec2: SecurityGroups, dry_run: bool
) -> list[UnreadableOutcome]:
    if not found.unreadable:
        return []
    if entry is None:  # internet mode, or lockdown without a baseline (judged for exposure only)
        return [UnreadableOutcome(item, Outcome.UNREADABLE, UNREADABLE_LEFT) for item in found.unreadable]
    return revoke_unreadable(group_id, found.unreadable, ec2, dry_run, UNREADABLE_REVOKED)


def _may_redefine(steps: tuple[Step, ...]) -> bool:
    """Whether rule IDs could turn part of this plan into a redefinition in place.

    Only a missing approved rule that has an ID, and a rule to revoke of the
    same direction and kind of source, can be one rule modified in place.
    """
    if not steps:
        return False
    missing = {(s.rule.direction, s.rule.source.kind) for s in steps if s.fix is Fix.RESTORE and s.rule.rule_id}
    return any(s.fix is Fix.REVOKE and (s.rule.direction, s.rule.source.kind) in missing for s in steps)


def _verify(drifted: list[SweptGroup], ec2: SecurityGroups) -> list[SweptGroup]:
    """Read the groups with unproven changes again, all at once, and check those changes."""
    changed = [group.group_id for group in drifted if any(item.unproven for item in group.outcomes)]
    if not changed:
        return drifted
    try:
        present = ec2.rules_by_group(changed)
    except Exception as error:  # the changes stand; only the proof is missing, and the report says so
        return [replace(g, rules=tuple(unverified(i, error) for i in g.rules)) for g in drifted]
    checked = []
    for group in drifted:
        now = present.get(group.group_id)
        if now is None:
            checked.append(group)
            continue
        rules = settle(group.rules, group.group_id, ec2, partial(ec2.group_rules, group.group_id), now)
        unreadable = verified_unreadable(group.unreadable, now.rule_ids)
        checked.append(replace(group, rules=tuple(rules), unreadable=tuple(unreadable)))
    return checked


def _failed_words(result: SweepResult) -> str:
    kinds = Counter(
        "interface" if isinstance(item, InterfaceOutcome) else "guard tag" if isinstance(item, TagOutcome) else "rule"
        for item in result.failures
    )
    said = [plural(count, noun) for noun, count in sorted(kinds.items(), key=lambda kind: kind[0] != "rule")]
    errors = sorted({item.error for item in result.failures if item.error})
    words = [f"could not put right {', '.join(said)} ({'; '.join(errors[:3])})"] if said else []
    return "; ".join(words + [f"could not check: {problem}" for problem in result.problems])


def _who(result: SweepResult) -> str:
    return f"{result.trigger.change.event_name} check" if result.trigger else "sweep"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
