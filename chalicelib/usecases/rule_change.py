"""Scope, plan and carry out one rule change: the middle of the event pipeline (`handle_event`).

Scope: the group the change names, if the sentry guards it (by ID, by tag,
or by an entry in the baseline). Plan: what to revoke (or, held to a
baseline, restore), judged rule by rule with the sweep's own judgement
(`drift`). Carry out: the revokes first, then the rest, then the proof
(`remedy.check`), as for the sweep.

A rule the plan would revoke is looked up in the group's time-boxed
exceptions (`sentry allow`) first: only then, so that a change with nothing
to revoke reads none. With the baseline file that costs no call; with the
table, none in lockdown mode (the group's entry and exceptions are one
Query) and one Query before the revoke in internet mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

from chalicelib.domain.allowances import NOTHING_GRANTED, Allowance, Granted, granted_on
from chalicelib.domain.baseline import ApprovedGroup, BaselineError
from chalicelib.domain.change import SecurityGroupChange
from chalicelib.domain.drift import Fix, Step, back_to_baseline, judged
from chalicelib.domain.errors import AwsError, describe
from chalicelib.domain.groups import GroupInfo
from chalicelib.domain.outcome import GroupOutcome, HandledChange, Outcome, RuleOutcome
from chalicelib.domain.policy import GroupScope, Mode, Policy, exempt_pattern, reaches_past_approval
from chalicelib.domain.ports import Aws, SecurityGroupsPort
from chalicelib.domain.prefix_lists import ListContents
from chalicelib.domain.rules import Direction, Rule, SourceKind, UnreadableRule
from chalicelib.usecases.pipeline import Invocation
from chalicelib.usecases.remedy import UNREADABLE_LEFT, act_on_unreadable, carry_out, check

# In report order: what must be done (a Step), or what is known already (a RuleOutcome).
Planned = list[Step | RuleOutcome]
# The group's exceptions as they stand now, read only when asked.
Exceptions = Callable[[], Granted]


@dataclass(frozen=True)
class ChangePlan:
    """A guarded group's plan for one change: its steps and known outcomes, and rules to revoke by ID."""

    group_id: str
    # The group's description, when scoping had to read it (else looked up for the email after acting).
    group: GroupInfo | None
    ec2: SecurityGroupsPort
    approved: ApprovedGroup | None
    planned: Planned
    unreadable: list[UnreadableRule]
    why_nothing: str

    @property
    def empty(self) -> bool:
        return not self.planned and not self.unreadable


def plan_change(change: SecurityGroupChange, run: Invocation) -> ChangePlan | None:
    """The plan for the change's group; None when the group is not guarded. Raises what AWS or the baseline raise."""
    ec2 = run.services.security_groups(change.region)
    store = run.baselines()
    entry = partial(store.group, run.acting_account(), change.region)
    holds = run.settings.policy.mode is Mode.LOCKDOWN  # only lockdown holds a group to its baseline
    group_id, group, approved = _guarded_group(change, run.settings.scope, ec2, entry, holds)
    if group_id is None:
        return None
    read = partial(store.allowances, run.acting_account(), change.region, group_id)
    exceptions = partial(_granted, read, group_id, change.region, datetime.now(UTC))
    planned, unreadable, why_nothing = _plan(change, run.settings.policy, ec2, run.services, approved, exceptions)
    return ChangePlan(group_id, group, ec2, approved, planned, unreadable, why_nothing)


def _granted(read: Callable[[], tuple[Allowance, ...]], group_id: str, region: str, now: datetime) -> Granted:
    """The group's exceptions at `now`; none when they cannot be read (the plan then says so, and revokes)."""
    try:
        return granted_on(read(), group_id, region, now)
    except (AwsError, BaselineError) as error:
        # An exception nobody can read is no exception: a table that fails stops no revert the policy asks for.
        return Granted(problem=f"its exceptions could not be read ({describe(error)}), so none applies")


def carry_out_change(change: SecurityGroupChange, plan: ChangePlan, run: Invocation) -> HandledChange:
    """Do the plan (or, in a dry run, say what it would do), prove it, and say what became of each rule."""
    settings = run.settings
    exempt = exempt_pattern(change.actor, settings.policy.exempt_principals)
    left = UNREADABLE_LEFT if exempt is None else f"made by an exempt principal (matches {exempt}); left as it is"
    revokes = settings.policy.mode is Mode.LOCKDOWN and exempt is None
    steps = [item for item in plan.planned if isinstance(item, Step)]
    done = iter(carry_out(steps, plan.group_id, plan.ec2, settings.dry_run))
    rules = tuple(next(done) if isinstance(item, Step) else item for item in plan.planned)
    unreadable = act_on_unreadable(plan.group_id, plan.unreadable, plan.ec2, settings.dry_run, revokes, left)
    outcome = GroupOutcome(
        group_id=plan.group_id,
        name=None,
        mode=settings.policy.mode,
        dry_run=settings.dry_run,
        rules=rules,
        baseline_rules=len(plan.approved.rules) if plan.approved is not None else None,
        unreadable=tuple(unreadable),
    )
    (outcome,) = check([outcome], plan.ec2)
    confirmed = None if settings.dry_run else datetime.now(UTC)  # the exposure window ends when the check has proved it
    # Only now, after the revoke: the group's name is only for the email.
    group = plan.group or _lookup_quietly(plan.ec2, plan.group_id)
    name = group.name if group else change.group_name
    return HandledChange(change, replace(outcome, name=name), run.account, confirmed)


def _guarded_group(
    change: SecurityGroupChange,
    scope: GroupScope,
    ec2: SecurityGroupsPort,
    entry: Callable[[str], ApprovedGroup | None],
    holds: bool,
) -> tuple[str | None, GroupInfo | None, ApprovedGroup | None]:
    """The group's ID if it is guarded, its description if one had to be fetched, and (`holds`) its baseline entry.

    A group with a baseline entry is guarded whatever its tags say. By tag,
    a cached look may say "guarded" (a tag removed since is itself an event
    the sentry handles), but "not guarded" is only ever said by a fresh
    read: a cached answer must never let a forbidden change through. In
    internet mode the baseline is read last, only for a group nothing else
    guards: a table that cannot be read then stops no revert the scope allows.
    """
    group = None
    group_id = change.group_id
    if group_id is None and change.group_name:
        group = ec2.find_group_by_name(change.group_name)
        group_id = group.group_id if group else None
    if group_id is None:
        return None, None, None
    held = entry(group_id) if holds else None
    if scope.covers_id(group_id) or held is not None:
        return group_id, group, held
    if scope.tag_key is not None:
        cached = group or ec2.cached_group(group_id)
        if cached is not None and scope.covers_tags(cached.tags):
            return group_id, cached, held
        group = ec2.describe_group(group_id, fresh=True)
        if group is not None and scope.covers_tags(group.tags):
            return group_id, group, held
    if not holds and entry(group_id) is not None:
        return group_id, group, None
    return None, None, None


def _plan(
    change: SecurityGroupChange,
    policy: Policy,
    ec2: SecurityGroupsPort,
    services: Aws,
    approved: ApprovedGroup | None,
    exceptions: Exceptions,
) -> tuple[Planned, list[UnreadableRule], str]:
    """What to do about the change (rules, and unreadable rules to revoke by ID), and, when nothing, why."""
    exempt = exempt_pattern(change.actor, policy.exempt_principals)
    if change.is_revoke and approved is None:
        return [], [], "a revoke matters only on a group held to a baseline (lockdown mode)"
    if change.is_revoke and exempt is not None:
        return [], [], f"made by an exempt principal (matches {exempt}); nothing is restored"
    unreadable = list(change.unreadable_rules)
    if approved is not None and exempt is None and (change.is_revoke or change.updates):
        # CloudTrail says neither what a modified rule was nor, for a revoke
        # by ID, what was removed: the present rules against the baseline say all.
        present = ec2.group_rules(approved.group_id)
        lists = _lists(services, change.region, [*present.rules, *approved.rules], approved)
        unapproved = partial(reaches_past_approval, policy=policy, lists=lists)
        steps = back_to_baseline(present.rules, approved.rules, unapproved)
        if any(step.fix in (Fix.REVOKE, Fix.REDEFINE) for step in steps):  # a present rule would change
            granted = exceptions()
            steps = _noted(back_to_baseline(present.rules, approved.rules, unapproved, granted), granted)
        else:
            granted = NOTHING_GRANTED
        planned: Planned = list(steps)
        updated = {update.rule_id for update in change.updates}
        for rule in present.rules:
            if rule.rule_id not in updated or any(s.rule == rule for s in steps):
                continue
            if rule in approved.approved:
                planned.append(RuleOutcome(rule, Outcome.ALLOWED, "approved in the baseline"))
            elif rule in granted.valid:
                planned.append(RuleOutcome(rule, Outcome.ALLOWED, granted.valid[rule].allowed_words()))
        return planned, [*unreadable, *present.unreadable], "the group holds exactly its approved rules"
    return _judge(change, policy, ec2, services, approved, exceptions), unreadable, "no rule to judge"


def _noted(steps: tuple[Step, ...], granted: Granted) -> tuple[Step, ...]:
    """The steps, each revoke saying that the exceptions could not be read, when they could not."""
    if granted.problem is None:
        return steps
    return tuple(replace(s, reason=f"{s.reason}; {granted.problem}") if s.fix is Fix.REVOKE else s for s in steps)


def _judge(
    change: SecurityGroupChange,
    policy: Policy,
    ec2: SecurityGroupsPort,
    services: Aws,
    approved: ApprovedGroup | None,
    exceptions: Exceptions,
) -> Planned:
    rules: list[Rule] = list(change.added)
    planned: Planned = []
    if change.updates:
        # CloudTrail does not say whether a modified rule is ingress or egress.
        current = ec2.describe_rules([update.rule_id for update in change.updates])
        for update in change.updates:
            now = current.get(update.rule_id)
            if now is None:
                reason = f"rule {update.rule_id} no longer exists; nothing to revert"
                planned.append(RuleOutcome(update.as_rule(Direction.UNKNOWN), Outcome.ALREADY_GONE, reason))
            elif now != update.as_rule(now.direction):
                # Revoking it now would remove whatever the rule has become, which a later
                # (perhaps exempt) change decided.
                reason = f"rule {update.rule_id} is now {now}; that later change is judged on its own event"
                planned.append(RuleOutcome(update.as_rule(now.direction), Outcome.SUPERSEDED, reason))
            else:
                rules.append(update.as_rule(now.direction))
    lists = ListContents()
    if _needs_lists(rules, policy, approved, change):
        lists = _lists(services, change.region, rules, approved)
    allowed = approved.approved if approved is not None else None
    verdicts = judged(rules, change.actor, policy, allowed, lists)
    if any(step is not None for _, step, _ in verdicts):
        granted = exceptions()
        verdicts = judged(rules, change.actor, policy, allowed, lists, granted)
        noted = iter(_noted(tuple(step for _, step, _ in verdicts if step is not None), granted))
        verdicts = [(rule, next(noted) if step is not None else None, reason) for rule, step, reason in verdicts]
    for rule, step, reason in verdicts:
        planned.append(step if step is not None else RuleOutcome(rule, Outcome.ALLOWED, reason))
    return planned


def _needs_lists(
    rules: list[Rule], policy: Policy, approved: ApprovedGroup | None, change: SecurityGroupChange
) -> bool:
    """Whether a decision depends on what a prefix list holds (which costs a read before the revoke)."""
    if exempt_pattern(change.actor, policy.exempt_principals) is not None:
        return False
    listed = [rule for rule in rules if rule.source.kind is SourceKind.PREFIX_LIST]
    if policy.mode is Mode.INTERNET:
        return bool(listed)
    # Lockdown reverts every rule not approved without looking; an approved one is checked.
    return approved is not None and any(rule in approved.approved for rule in listed)


def _lists(services: Aws, region: str, rules: list[Rule], approved: ApprovedGroup | None) -> ListContents:
    """What the lists these rules reference hold now (no call when none does), and held when approved."""
    wanted = {rule.source.value for rule in rules if rule.source.kind is SourceKind.PREFIX_LIST}
    current = services.prefix_lists(region).read(wanted)
    return ListContents(current, approved.prefix_lists if approved is not None else {})


def _lookup_quietly(ec2: SecurityGroupsPort, group_id: str) -> GroupInfo | None:
    """The group's name is only for the email: failing to get it, however, must not stop the report."""
    try:
        return ec2.describe_group(group_id)
    except Exception:  # an error, a malformed answer: the report goes out without the name
        return None
