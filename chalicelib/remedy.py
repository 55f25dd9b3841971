"""Carry out a plan of steps on one group through the EC2 adapter, and say what became of each rule.

Revokes go first, so a forbidden rule is closed before anything is put
back; then rules are redefined in place; then approved rules are restored.
Every step comes back as a `RuleOutcome`, failed ones included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from chalicelib.drift import Fix, Step
from chalicelib.ec2 import RestoreResult, RestoreStatus, RevokeResult, RevokeStatus, SecurityGroups, describe_error
from chalicelib.outcome import Outcome, RuleOutcome
from chalicelib.rules import Direction, Rule

DIRECTIONS = (Direction.INGRESS, Direction.EGRESS)


def carry_out(
    steps: Sequence[Step], group_id: str, ec2: SecurityGroups, dry_run: bool, verify: bool = True
) -> list[RuleOutcome]:
    """Do the steps (or, in a dry run, say what they would do).

    With `verify`, every change EC2's answer did not name is checked against
    the group's rules, read once afterwards; when the answers named them all
    (current EC2 lists the rules it revoked or created), nothing is read.
    The sweep verifies many groups in one read instead.
    """
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
    outcomes = [done[index] for index in range(len(steps))]
    if verify and any(item.unproven for item in outcomes):
        try:
            present = ec2.group_rules(group_id)
        except Exception as error:  # the changes stand; only the proof is missing, and the report says so
            return [unverified(item, error) for item in outcomes]
        return verified(outcomes, present)
    return outcomes


def verified(outcomes: Iterable[RuleOutcome], present: Sequence[Rule]) -> list[RuleOutcome]:
    """Check the unproven changes against the rules the group really has now."""
    present_ids = {rule.rule_id for rule in present if rule.rule_id}
    present_set = set(present)
    checked = []
    for item in outcomes:
        rule = item.rule
        if not item.unproven:
            checked.append(item)  # proven by EC2's own answer
            continue
        if item.outcome is Outcome.REVERTED:
            still = rule.rule_id in present_ids if rule.rule_id else rule in present_set
            if still:
                problem = "EC2 answered that it revoked the rule, but the rule is still there"
                item = RuleOutcome(item.rule, Outcome.FAILED, item.reason, problem, item.approved)
        elif item.outcome is Outcome.RESTORED and (item.approved or rule) not in present_set:
            problem = "EC2 answered that it restored the rule, but the approved rule is not there"
            item = RuleOutcome(item.rule, Outcome.RESTORE_FAILED, item.reason, problem, item.approved)
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
        # A rule revoked by its definition gets the ID EC2's answer gave it, for the report.
        rule = replace(step.rule, rule_id=result.revoked_id) if result.revoked_id else step.rule
        return RuleOutcome(rule, Outcome.REVERTED, step.reason, shown=result.shown)
    if result.status is RevokeStatus.ALREADY_GONE:
        return RuleOutcome(step.rule, Outcome.ALREADY_GONE, f"{step.reason}; the rule was already gone")
    return RuleOutcome(step.rule, Outcome.FAILED, step.reason, result.error)


def _restored(step: Step, result: RestoreResult) -> RuleOutcome:
    if result.status is RestoreStatus.RESTORED:
        return RuleOutcome(step.rule, Outcome.RESTORED, step.reason, None, step.approved, result.shown)
    if result.status is RestoreStatus.ALREADY_PRESENT:
        reason = f"{step.reason}; it was back already"
        return RuleOutcome(step.rule, Outcome.ALREADY_PRESENT, reason, None, step.approved)
    return RuleOutcome(step.rule, Outcome.RESTORE_FAILED, step.reason, result.error, step.approved)


def _would(step: Step) -> RuleOutcome:
    outcome = Outcome.WOULD_REVERT if step.fix is Fix.REVOKE else Outcome.WOULD_RESTORE
    return RuleOutcome(step.rule, outcome, step.reason, None, step.approved)


def unverified(item: RuleOutcome, error: Exception) -> RuleOutcome:
    if not item.unproven:
        return item
    note = f"{item.reason}; done, but the check afterwards failed: {describe_error(error)}"
    return RuleOutcome(item.rule, item.outcome, note, item.error, item.approved)
