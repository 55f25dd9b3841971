"""Carry out a plan of steps on one group through the security-group port, and prove what became of each rule.

Revokes go first, so a forbidden rule is closed before anything is put
back; then rules are redefined in place; then approved rules are restored.
Every step comes back as a `RuleOutcome`, failed ones included.

Nothing EC2 answers is taken on trust unless the answer names the rule:
"revoked", "restored", "not there" and "already there" alike are checked
against the group's rules read afterwards. A forbidden rule that EC2 said
was not there but still is (EC2 did not match it by the definition given)
is revoked once more, by the ID that read gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial

from chalicelib.domain.drift import Fix, Step
from chalicelib.domain.errors import describe
from chalicelib.domain.groups import GroupRules, RestoreResult, RestoreStatus, RevokeResult, RevokeStatus
from chalicelib.domain.outcome import GroupOutcome, Outcome, RuleOutcome, UnreadableOutcome
from chalicelib.domain.ports import SecurityGroupsPort
from chalicelib.domain.rules import Direction, Rule, UnreadableRule

DIRECTIONS = (Direction.INGRESS, Direction.EGRESS)
STILL_THERE = "EC2 answered that the rule was not there, but it still is"
REVOKED_BUT_THERE = "EC2 answered that it revoked the rule, but the rule is still there"
GONE_NOTE = "; the rule was already gone"
# Rules found still there after a revoke by definition: revoked again, by the ID the read gave them.
TO_REVOKE_AGAIN = (STILL_THERE, REVOKED_BUT_THERE)
# Why a rule nobody can read is revoked by its ID, or left for a person to look at.
UNREADABLE_REVOKED = "lockdown mode: no baseline can approve a rule nobody can read, so it is revoked by its ID"
UNREADABLE_LEFT = "a rule nobody can read cannot be judged by what it opens: look at it by hand"
# Reads the group's rules, with their IDs, for the check afterwards.
Reader = Callable[[], GroupRules]


def carry_out(steps: Sequence[Step], group_id: str, ec2: SecurityGroupsPort, dry_run: bool) -> list[RuleOutcome]:
    """Do the steps (or, in a dry run, say what they would do); `check` then proves what EC2's answers did not."""
    if dry_run:
        return [_would(step) for step in steps]
    done: dict[int, RuleOutcome] = {}

    def batch(fix: Fix, direction: Direction | None = None) -> list[tuple[int, Step]]:
        return [
            (index, step)
            for index, step in enumerate(steps)
            if step.fix is fix and (direction is None or step.rule.direction is direction)
        ]

    for direction in DIRECTIONS:
        for by_rule_id in (True, False):
            revokes = [(i, step) for i, step in batch(Fix.REVOKE, direction) if step.by_rule_id is by_rule_id]
            if revokes:
                rules = [step.rule for _, step in revokes]
                answers = _in_order(revokes, ec2.revoke(group_id, direction, rules, by_rule_id))
                done.update((i, _revoked(s, answer)) for (i, s), answer in zip(revokes, answers, strict=True))
    done.update((i, RuleOutcome(step.rule, Outcome.NOT_RESTORED, step.reason)) for i, step in batch(Fix.HOLD_BACK))
    # A rule to redefine that was deleted meanwhile: its approved definition is put back instead.
    restores = batch(Fix.RESTORE)
    redefines = batch(Fix.REDEFINE)
    if redefines:
        results = ec2.redefine(group_id, [(step.rule, step.approved or step.rule) for _, step in redefines])
        for (i, step), answer in zip(redefines, results, strict=True):
            if answer.status is RestoreStatus.RULE_GONE and step.approved is not None:
                note = f"{step.reason}; the rule was deleted meanwhile, so the approved rule is put back"
                restores.append((i, Step(Fix.RESTORE, step.approved, note)))
            else:
                done[i] = _restored(step, answer)
    for direction in DIRECTIONS:
        by_direction = [(i, step) for i, step in restores if step.rule.direction is direction]
        if by_direction:
            results = ec2.authorize(group_id, direction, [step.rule for _, step in by_direction])
            done.update((i, _restored(step, answer)) for (i, step), answer in zip(by_direction, results, strict=True))
    return [done[index] for index in range(len(steps))]


def check(groups: Sequence[GroupOutcome], ec2: SecurityGroupsPort) -> list[GroupOutcome]:
    """Prove what EC2's answers did not name, for the event path and the sweep alike.

    The groups with unproven outcomes are read again, all at once (one
    DescribeSecurityGroupRules per 200 groups); when the answers named it
    all (current EC2 lists the rules it revoked or created), nothing is
    read. A forbidden rule found still there is revoked again, by its ID.
    """
    changed = [group.group_id for group in groups if any(item.unproven for item in group.outcomes)]
    if not changed:
        return list(groups)
    try:
        present = ec2.rules_by_group(changed)
    except Exception as error:  # the changes stand; only the proof is missing, and the report says so
        return [
            replace(
                g,
                rules=tuple(unverified(i, error) for i in g.rules),
                unreadable=tuple(unverified_unreadable(i, error) for i in g.unreadable),
            )
            for g in groups
        ]
    checked = []
    for group in groups:
        now = present.get(group.group_id)
        if now is None:
            checked.append(group)
            continue
        rules = settle(group.rules, group.group_id, ec2, partial(ec2.group_rules, group.group_id), now)
        unreadable = verified_unreadable(group.unreadable, now.rule_ids)
        checked.append(replace(group, rules=tuple(rules), unreadable=tuple(unreadable)))
    return checked


def settle(
    outcomes: Sequence[RuleOutcome],
    group_id: str,
    ec2: SecurityGroupsPort,
    read: Reader,
    present: GroupRules | None = None,
) -> list[RuleOutcome]:
    """Check the outcomes against the group's rules now (`present`, or read), and revoke what is still there."""
    try:
        present = present if present is not None else read()
    except Exception as error:  # the changes stand; only the proof is missing, and the report says so
        return [unverified(item, error) for item in outcomes]
    checked = verified(outcomes, present.rules)
    still = [
        (index, rule)
        for index, item in enumerate(checked)
        if item.error in TO_REVOKE_AGAIN
        for rule in present.rules
        if rule == item.rule and rule.rule_id
    ]
    if not still:
        return checked
    return _revoke_again(checked, still, group_id, ec2, read)


def verified(outcomes: Iterable[RuleOutcome], present: Sequence[Rule]) -> list[RuleOutcome]:
    """Check the unproven outcomes against the rules the group really has now (read with their IDs)."""
    present_ids = {rule.rule_id: rule for rule in present if rule.rule_id}
    present_set = set(present)
    checked = []
    for item in outcomes:
        rule = item.rule
        if not item.unproven:
            checked.append(item)  # proven by EC2's own answer
            continue
        if item.outcome is Outcome.REVERTED:
            still = rule.rule_id in present_ids and present_ids[rule.rule_id] == rule if rule.rule_id else False
            if still or rule in present_set:
                item = RuleOutcome(item.rule, Outcome.FAILED, item.reason, REVOKED_BUT_THERE, item.approved)
            else:
                item = replace(item, shown=True)  # checked: it is gone (the exposure window ends here)
        elif item.outcome is Outcome.ALREADY_GONE:
            item = _gone_or_not(item, present_ids, present_set)
        elif item.outcome in (Outcome.RESTORED, Outcome.ALREADY_PRESENT) and (item.approved or rule) not in present_set:
            word = "restored the rule" if item.outcome is Outcome.RESTORED else "the rule was there already"
            problem = f"EC2 answered that {word}, but the approved rule is not there"
            item = RuleOutcome(item.rule, Outcome.RESTORE_FAILED, item.reason, problem, item.approved)
        checked.append(item)
    return checked


def _gone_or_not(item: RuleOutcome, present_ids: dict[str, Rule], present_set: set[Rule]) -> RuleOutcome:
    """ "Already gone", as EC2 said: true, true because the rule was changed since, or not true at all."""
    rule = item.rule
    if rule in present_set:
        return RuleOutcome(rule, Outcome.FAILED, item.reason.removesuffix(GONE_NOTE), STILL_THERE, item.approved)
    now = present_ids.get(rule.rule_id) if rule.rule_id else None
    if now is not None:
        # The record's rule was redefined before the sentry came (say, narrowed by its author): what it
        # has become was left alone, as revoking by definition intends, and is judged on its own event.
        reason = f"rule {rule.rule_id} was changed since to {now}, which was left as it is"
        return RuleOutcome(rule, Outcome.SUPERSEDED, reason, None, item.approved)
    return replace(item, shown=True)  # checked: it is not there


def _revoke_again(
    checked: list[RuleOutcome], still: list[tuple[int, Rule]], group_id: str, ec2: SecurityGroupsPort, read: Reader
) -> list[RuleOutcome]:
    """Revoke, by the IDs just read, the forbidden rules EC2 did not match by their definitions."""
    results: dict[int, RevokeResult] = {}
    for direction in DIRECTIONS:
        batch = [(index, rule) for index, rule in still if rule.direction is direction]
        if batch:
            answers = ec2.revoke(group_id, direction, [rule for _, rule in batch], by_rule_id=True)
            results.update((index, answer) for (index, _), answer in zip(batch, answers, strict=True))
    again = list(checked)
    for index, answer in results.items():
        item = checked[index]
        note = f"{item.reason}; EC2 did not remove it by its definition, so it was revoked by its ID"
        if answer.status is RevokeStatus.REVOKED:
            again[index] = RuleOutcome(answer.rule, Outcome.REVERTED, note, None, item.approved, answer.shown)  # type: ignore[arg-type]
        elif answer.status is RevokeStatus.ALREADY_GONE:
            again[index] = RuleOutcome(item.rule, Outcome.ALREADY_GONE, f"{item.reason}; gone when revoked by ID")
        else:
            again[index] = RuleOutcome(item.rule, Outcome.FAILED, item.reason, answer.error, item.approved)
    if not any(again[index].outcome is Outcome.REVERTED and not again[index].shown for index in results):
        return again
    try:
        ids = read().rule_ids
    except Exception as error:
        return [unverified(item, error) if index in results else item for index, item in enumerate(again)]
    for index in results:
        item = again[index]
        if item.outcome is Outcome.REVERTED and not item.shown and item.rule.rule_id in ids:
            problem = "EC2 answered that it revoked the rule by its ID, but the rule is still there"
            again[index] = RuleOutcome(item.rule, Outcome.FAILED, item.reason, problem, item.approved)
        elif item.outcome is Outcome.REVERTED:
            again[index] = replace(item, shown=True)  # checked: it is gone
    return again


def act_on_unreadable(
    group_id: str,
    items: Sequence[UnreadableRule],
    ec2: SecurityGroupsPort,
    dry_run: bool,
    revokes: bool,
    left: str = UNREADABLE_LEFT,
) -> list[UnreadableOutcome]:
    """Revoke rules nobody can read by their IDs (lockdown, held to a baseline, not exempt), or leave them
    to a person, saying `left`; `check` proves the revokes afterwards."""
    if not items:
        return []
    if not revokes:
        return [UnreadableOutcome(item, Outcome.UNREADABLE, left) for item in items]
    return revoke_unreadable(group_id, items, ec2, dry_run, UNREADABLE_REVOKED)


def revoke_unreadable(
    group_id: str, items: Sequence[UnreadableRule], ec2: SecurityGroupsPort, dry_run: bool, reason: str
) -> list[UnreadableOutcome]:
    """Revoke, by their IDs, rules nobody can read (lockdown mode: no baseline can approve them)."""
    if dry_run:
        return [UnreadableOutcome(item, Outcome.WOULD_REVERT, reason) for item in items]
    outcomes: dict[int, UnreadableOutcome] = {}
    for direction in DIRECTIONS:
        batch = [(i, item) for i, item in enumerate(items) if item.direction is direction and item.rule_id]
        if batch:
            answers = ec2.revoke_unreadable(group_id, direction, [item for _, item in batch])
            for (i, item), answer in zip(batch, answers, strict=True):
                outcome = {
                    RevokeStatus.REVOKED: Outcome.REVERTED,
                    RevokeStatus.ALREADY_GONE: Outcome.ALREADY_GONE,
                    RevokeStatus.FAILED: Outcome.FAILED,
                }[answer.status]
                outcomes[i] = UnreadableOutcome(item, outcome, reason, answer.error, answer.shown)
    for i, item in enumerate(items):
        if i not in outcomes:
            outcomes[i] = UnreadableOutcome(item, Outcome.UNREADABLE, "it cannot be read and has no rule ID to revoke")
    return [outcomes[i] for i in range(len(items))]


def verified_unreadable(outcomes: Iterable[UnreadableOutcome], present_ids: frozenset[str]) -> list[UnreadableOutcome]:
    """A rule revoked (or found gone) by ID is gone only if its ID is no longer among the group's rules."""
    checked = []
    for item in outcomes:
        if item.unproven and item.rule.rule_id in present_ids:
            problem = "EC2 answered that the rule is gone, but it is still there"
            item = UnreadableOutcome(item.rule, Outcome.FAILED, item.reason, problem)
        elif item.unproven:
            item = replace(item, shown=True)  # checked: it is gone
        checked.append(item)
    return checked


def _in_order(steps: Sequence[tuple[int, Step]], results: Sequence[RevokeResult]) -> list[RevokeResult | None]:
    # The adapter answers ID-bearing rules first; match each step to its own result.
    by_rule = {(result.rule, result.rule.rule_id): result for result in results}
    return [by_rule.get((step.rule, step.rule.rule_id)) for _, step in steps]


def _revoked(step: Step, result: RevokeResult | None) -> RuleOutcome:
    if result is None:
        return RuleOutcome(step.rule, Outcome.FAILED, step.reason, "no answer from EC2 for this rule")
    if result.status is RevokeStatus.REVOKED:
        # The rule gets the ID EC2's answer gave it, for the report: the one it really had when revoked.
        rule = replace(step.rule, rule_id=result.revoked_id) if result.revoked_id else step.rule
        return RuleOutcome(rule, Outcome.REVERTED, step.reason, shown=result.shown)
    if result.status is RevokeStatus.ALREADY_GONE:
        return RuleOutcome(step.rule, Outcome.ALREADY_GONE, f"{step.reason}{GONE_NOTE}")
    return RuleOutcome(step.rule, Outcome.FAILED, step.reason, result.error)


def _restored(step: Step, result: RestoreResult) -> RuleOutcome:
    if result.status is RestoreStatus.RESTORED:
        return RuleOutcome(step.rule, Outcome.RESTORED, step.reason, None, step.approved, result.shown)
    if result.status is RestoreStatus.ALREADY_PRESENT:
        reason = f"{step.reason}; it was back already"
        return RuleOutcome(step.rule, Outcome.ALREADY_PRESENT, reason, None, step.approved)
    return RuleOutcome(step.rule, Outcome.RESTORE_FAILED, step.reason, result.error, step.approved)


def _would(step: Step) -> RuleOutcome:
    if step.fix is Fix.HOLD_BACK:
        return RuleOutcome(step.rule, Outcome.NOT_RESTORED, step.reason)
    outcome = Outcome.WOULD_REVERT if step.fix is Fix.REVOKE else Outcome.WOULD_RESTORE
    return RuleOutcome(step.rule, outcome, step.reason, None, step.approved)


def unverified_unreadable(item: UnreadableOutcome, error: Exception) -> UnreadableOutcome:
    if not item.unproven:
        return item
    return replace(item, reason=f"{item.reason}; done, but the check afterwards failed: {describe(error)}")


def unverified(item: RuleOutcome, error: Exception) -> RuleOutcome:
    if not item.unproven:
        return item
    note = f"{item.reason}; done, but the check afterwards failed: {describe(error)}"
    return RuleOutcome(item.rule, item.outcome, note, item.error, item.approved)
