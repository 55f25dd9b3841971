"""What must change to bring a group's present rules back in line: a pure plan, no I/O.

The sweep plans every guarded group with it, and the event handler plans a
group whose approved rule was revoked or modified: CloudTrail does not say
what a modified rule was before, nor always what a revoked one was, so the
group's present rules against its baseline are the only sound ground.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.allowances import NOTHING_GRANTED, Granted
from chalicelib.domain.baseline import ApprovedGroup
from chalicelib.domain.change import Actor
from chalicelib.domain.policy import LOCKDOWN_ADDS_NOTHING, Mode, Policy, decide, judge_exposure, reaches_past_approval
from chalicelib.domain.prefix_lists import NO_LISTS, ListContents
from chalicelib.domain.rules import Rule

# Why an approved rule present on the group is not the approved one after all (its prefix list
# reaches further now), or None when it is.
Unapproved = Callable[[Rule], str | None]

# Who a sweep judges rules for: nobody. No principal ARN, so no exemption can match.
NO_ACTOR = Actor(identity_type="none (found by the sweep)")


class Fix(StrEnum):
    REVOKE = "revoke"
    RESTORE = "restore"
    REDEFINE = "redefine"
    # An approved rule that is missing but not put back: its prefix list now reaches past what it
    # held when the rule was approved. Nothing is called; the report says why.
    HOLD_BACK = "hold back"


@dataclass(frozen=True)
class Step:
    fix: Fix
    # REVOKE, REDEFINE: the rule as it is now (with its ID). RESTORE: the approved rule to put back.
    rule: Rule
    reason: str
    # REDEFINE: the approved definition the rule goes back to.
    approved: Rule | None = None
    # REVOKE: by the rule's ID, which only a rule ID fresh from the event's record may be; a rule read
    # from the group (the sweep reads minutes before it acts) is revoked by its definition instead.
    by_rule_id: bool = False


# Lockdown without a baseline cannot tell an approved rule from drift; what it can tell is exposure.
EXPOSURE_ONLY = "lockdown mode without a baseline: only what opens the group to the internet is judged"


def plan(
    current: Sequence[Rule],
    policy: Policy,
    baseline: ApprovedGroup | None,
    lists: ListContents = NO_LISTS,
    granted: Granted = NOTHING_GRANTED,
) -> tuple[Step, ...]:
    """The steps that make `current` acceptable.

    `lists` holds what the prefix lists referenced (by `current` and the
    baseline) contain now; the baseline's entry says what they held then.
    In lockdown mode without a baseline every rule would be "a change" only
    if an event said when it was made (the default egress rule of every
    group would otherwise go), so the group is held to internet mode's test
    instead: lockdown would have reverted any such rule on its event anyway,
    and a rule opened while an event was lost, or while a guard tag was gone,
    or through a prefix list widened since, must not stay.

    `granted` holds the group's exceptions: a rule one allows now stays; one
    whose exception has ended (expired or revoked) goes, said so, in any
    mode, even when the policy would allow it otherwise: the exception is
    the record that it was added for the exception alone (lockdown adds no
    rule; internet mode's `sentry allow` grants none for a rule it allows).
    A group's approved rule stays: the reviewed baseline allows it.
    """
    if policy.mode is Mode.LOCKDOWN and baseline is not None:
        contents = lists.with_approved(baseline.prefix_lists)
        return back_to_baseline(
            current, baseline.rules, lambda rule: reaches_past_approval(rule, policy, contents), granted
        )
    if policy.mode is Mode.LOCKDOWN:
        steps = []
        for rule in dict.fromkeys(current):
            exposure = judge_exposure(rule, policy, lists)
            ended = granted.expired.get(rule)
            if ended is not None:
                why = exposure.reason if exposure.revert else LOCKDOWN_ADDS_NOTHING
                steps.append(Step(Fix.REVOKE, rule, f"{ended.expired_words()}: {why}"))
            elif exposure.revert and rule not in granted.valid:
                steps.append(Step(Fix.REVOKE, rule, granted.noted(rule, f"{EXPOSURE_ONLY}: {exposure.reason}")))
        return tuple(steps)
    verdicts = judged(current, NO_ACTOR, policy, lists=lists, granted=granted)
    found = [step or _ended(rule, granted) for rule, step, _ in verdicts]
    return tuple(step for step in found if step is not None)


def _ended(rule: Rule, granted: Granted) -> Step | None:
    """Internet mode's revoke of a rule it allows, but that stood by an exception which has ended."""
    ended = granted.expired.get(rule)
    if ended is None:
        return None
    return Step(Fix.REVOKE, rule, f"{ended.expired_words()}: the rule stood by the exception alone")


def judged(
    rules: Iterable[Rule],
    actor: Actor,
    policy: Policy,
    allowed: frozenset[Rule] | None = None,
    lists: ListContents = NO_LISTS,
    granted: Granted = NOTHING_GRANTED,
) -> list[tuple[Rule, Step | None, str]]:
    """Each rule as the policy judges it for `actor`: (rule, the revoke to do or None, why).

    The one judgement of rules, for an event's rules (its actor, its group's
    approved rules) and the sweep's (no actor) alike. A revoke goes by the
    rule's definition: EC2 removes it only while it still is what was judged.
    """
    verdicts = []
    for rule in rules:
        decision = decide(rule, actor, policy, allowed, lists, granted)
        step = Step(Fix.REVOKE, rule, decision.reason) if decision.revert else None
        verdicts.append((rule, step, decision.reason))
    return verdicts


def back_to_baseline(
    current: Iterable[Rule],
    approved: Sequence[Rule],
    unapproved: Unapproved = lambda rule: None,
    granted: Granted = NOTHING_GRANTED,
) -> tuple[Step, ...]:
    """Revoke what is not approved, restore what is approved and missing.

    A present rule that carries the ID of a missing approved rule was
    modified in place: it is redefined back, keeping its ID, in one call and
    with no moment in which neither definition exists. AWS cannot turn one
    kind of source into another in place, so that case is revoke and restore.

    An approved prefix-list rule whose list now reaches past what it held
    when approved (`unapproved` says why) is not the approved rule: present,
    it is revoked; missing, it is held back, not restored, until the list
    holds no more than it did.

    A present rule an exception allows now (`granted`) stays as it is, and
    is not taken for an approved rule modified in place; one whose
    exception has expired goes, and its step says so.
    """
    present = list(dict.fromkeys(current))
    present_set = set(present)
    approved_set = set(approved)
    withheld = {rule: why for rule in approved if (why := unapproved(rule)) is not None}
    missing = [rule for rule in approved if rule not in present_set]
    missing_by_id = {rule.rule_id: rule for rule in missing if rule.rule_id and rule not in withheld}
    steps: list[Step] = []
    for rule in present:
        if rule in approved_set and rule not in withheld:
            continue
        if rule in granted.valid:
            continue
        if rule in granted.expired:
            steps.append(
                Step(Fix.REVOKE, rule, f"{granted.expired[rule].expired_words()}: not in the approved baseline")
            )
            continue
        if rule in withheld:
            steps.append(Step(Fix.REVOKE, rule, withheld[rule]))
            continue
        target = missing_by_id.pop(rule.rule_id, None) if rule.rule_id else None
        if target is not None and target.direction is rule.direction and target.source.kind is rule.source.kind:
            steps.append(Step(Fix.REDEFINE, rule, f"rule {rule.rule_id} differs from its approved definition", target))
            missing.remove(target)
        else:
            steps.append(Step(Fix.REVOKE, rule, granted.noted(rule, "not in the approved baseline")))
    for rule in missing:
        if rule in withheld:
            steps.append(Step(Fix.HOLD_BACK, rule, f"{withheld[rule]}; it is put back once the list holds no more"))
        else:
            steps.append(Step(Fix.RESTORE, rule, "approved in the baseline but missing from the group"))
    return tuple(steps)
