"""An event that changes no rule but may open a guarded group: undo what it did to the guard, then judge at once.

Each kind of `IndirectChange` names what to judge again (a `Selection`), and
the judging is the sweep's own, so an event and the schedule can never
disagree about what is allowed:

* a guard tag removed or overwritten: the tag is put back (`guard_tags`),
  then the group is judged;
* a prefix list modified or restored to an old version: every guarded group
  with a rule that references it is judged (by what the list holds now);
* an interface given other groups (or an instance launched, an interface
  created or attached): the workloads it belongs to are judged for a group
  that opens them beside a guarded one (`interfaces`);
* a record CloudTrail truncated: the group it still names, or, when it names
  none, every guarded group and interface of the region.

Exempt principals' changes are left in place here (and logged); the sweep,
which sees no actors, judges them at its next round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from chalicelib.adapters.log import Level
from chalicelib.domain.baseline import BaselineError
from chalicelib.domain.change import STATE_CHANGE, TAG_EVENTS, Indirect, IndirectChange
from chalicelib.domain.errors import AwsError, RevertFailed, describe
from chalicelib.domain.groups import GroupInfo
from chalicelib.domain.guard_tags import TagDecision, guard_tag_decisions
from chalicelib.domain.outcome import Outcome, PassedOver, Summary, SweepResult, TagOutcome, Trigger
from chalicelib.domain.policy import GroupScope, exempt_pattern
from chalicelib.domain.ports import SecurityGroupsPort
from chalicelib.domain.selection import EVERYTHING, Selection
from chalicelib.reports.problem import problem_report
from chalicelib.usecases.judge import judge
from chalicelib.usecases.pipeline import Invocation, finish


def handle_indirect(change: IndirectChange, run: Invocation) -> SweepResult | PassedOver:
    """Handle one indirect change; why not (logged) when there is nothing to judge."""
    settings = run.settings
    run = run.about(
        event_id=change.event_id, event_name=change.event_name, actor=change.actor.name, dry_run=settings.dry_run
    )
    if change.failed:
        message = f"nothing to do: the call failed ({change.header.error_code}), so it changed nothing"
        return run.pass_over(Level.INFO, message, Summary.NOTHING_TO_DO)
    if run.services.own_identity(change.region, run.env).made(change.actor):
        return run.pass_over(Level.WARNING, "the sentry made this change itself", Summary.OWN_CHANGE)
    try:
        acting = run.acting_in(change.header.account, change.event_id, change.region)
    except AwsError as error:
        problem = f"could not act in account {change.header.account or 'of the deployment'}: {describe(error)}"
        report = problem_report(problem, change.region, change.event_id, account=change.header.account)
        run.cannot_evaluate(problem, report)
        raise
    if isinstance(acting, PassedOver):
        return acting
    run = acting
    try:
        approved = run.baselines().region(run.acting_account(), change.region)
    except (BaselineError, AwsError) as error:
        said = describe(error) if isinstance(error, AwsError) else str(error)
        problem = f"could not read the baseline, so nothing was judged: {said}"
        report = problem_report(problem, change.region, change.event_id, account=run.account_label())
        run.cannot_evaluate(problem, report)
        raise
    exempt = exempt_pattern(change.actor, settings.policy.exempt_principals)
    tags: tuple[TagOutcome, ...] = ()
    if change.kind is Indirect.GUARD_TAG:
        decisions = guard_tag_decisions(change, settings.scope)
        if not decisions:
            return run.pass_over(
                Level.INFO, "nothing to do: the call leaves the guard tag alone", Summary.NOTHING_TO_DO
            )
        ec2 = run.services.security_groups(change.region)
        removed = [decision for decision in decisions if decision.removes_guard]
        tags = tuple(_put_back(decision, ec2, settings.scope, settings.dry_run, exempt) for decision in removed)
    elif exempt is not None:
        message = f"allowed: made by an exempt principal (matches {exempt}); the next sweep judges what it touched"
        return run.pass_over(Level.INFO, message, Summary.ALLOWED)
    what, why = _what(change)
    always = bool(tags) or change.truncated
    trigger = Trigger(change, what, why, tags, always_report=always)
    # A group whose guard tag was taken off is judged as guarded, even if the tag could not be put back.
    forced = frozenset(t.group_id for t in tags if t.judged)
    selection = replace(_selection(change), forced=forced)
    result = judge(run, approved, change.region, selection, trigger)
    finish(run, result, RevertFailed)
    return result


def _selection(change: IndirectChange) -> Selection:
    if change.kind is Indirect.GUARD_TAG:
        # And the workloads that carry the groups: a door opened beside one while its tag was gone.
        groups = frozenset(change.group_ids)
        return Selection(group_ids=groups, beside=groups)
    # A record in which no ID could be found names nothing: everything of its kind is judged.
    if change.kind is Indirect.PREFIX_LIST:
        # And every interface: a group beside a guarded one may reference the list too.
        return Selection(prefix_lists=frozenset(change.prefix_list_ids) or None)
    if change.kind is Indirect.INTERFACES and (change.instance_ids or change.interface_ids):
        return Selection(
            groups=False, instance_ids=frozenset(change.instance_ids), interface_ids=frozenset(change.interface_ids)
        )
    if change.kind is Indirect.INTERFACES:
        return Selection(groups=False)
    if change.kind is Indirect.BESIDE:
        return Selection(groups=False, beside=frozenset(change.group_ids))
    if change.group_ids:  # a truncated rule change that still names its group
        return Selection(group_ids=frozenset(change.group_ids), interfaces=False)
    return EVERYTHING


def _what(change: IndirectChange) -> tuple[str, str]:
    """(what the call did, why that made the sentry judge at once), for the message."""
    if change.kind is Indirect.GUARD_TAG and change.tags is not None:
        verb = "set tags on" if change.tags.created else "deleted tags of"
        why = "The guard tag tells the sentry which groups it guards: a change of it is undone, and the group judged"
        return f"{verb} {', '.join(change.group_ids)}", why
    if change.kind is Indirect.PREFIX_LIST:
        why = "A rule that references a prefix list reaches whatever the list holds now: such groups were judged"
        return f"changed {', '.join(change.prefix_list_ids)}", why
    if change.event_name == STATE_CHANGE:
        why = "Whatever launched it, an instance's groups add up: a group beside a guarded one can open it"
        return f"started instance {', '.join(change.instance_ids)}", why
    if change.kind is Indirect.INTERFACES:
        named = [*change.instance_ids, *change.interface_ids] or ["instances or interfaces the record does not name"]
        why = "An interface's groups add up: a group beside a guarded one can open the workload, which was judged"
        return f"changed the groups of {', '.join(named)}", why
    if change.kind is Indirect.BESIDE:
        why = "The group is not guarded, but an interface's groups add up: every workload that carries it was judged"
        return f"changed rules of {change.group_ids[0]}", why
    why = "So the sentry judged at once everything the call may have changed"
    if change.group_ids:
        return (
            f"changed {change.group_ids[0]}, but CloudTrail truncated the record: which rules changed is not known",
            why,
        )
    if change.event_name in TAG_EVENTS:
        return (
            "changed tags, but CloudTrail truncated the record: which groups lost their guard tag is not known, and a"
            " group taken out of guard so is not seen (guard it by ID or by a baseline entry)",
            why,
        )
    return "made a change, but CloudTrail truncated the record: which group or rules changed is not known", why


def _put_back(
    decision: TagDecision, ec2: SecurityGroupsPort, scope: GroupScope, dry_run: bool, exempt: str | None
) -> TagOutcome:
    """Put a removed guard tag back on its group (if it is not back already), and check that it is there."""
    outcome = TagOutcome(decision.group_id, decision.key, decision.value, Outcome.RESTORED, decision.reason)
    if exempt is not None:
        reason = f"{decision.reason}; {exempt_words(exempt)}"
        return replace(outcome, outcome=Outcome.ALLOWED, reason=reason, judged=False)
    seen = ec2.cached_group(decision.group_id)  # before the fresh read replaces it
    try:
        now = ec2.describe_group(decision.group_id, fresh=True)
    except Exception as failure:  # reported, and the group is judged as guarded all the same
        return replace(outcome, outcome=Outcome.RESTORE_FAILED, error=f"could not read its tags: {failure}")
    if now is None:
        reason = f"{decision.reason}; the group no longer exists"
        return replace(outcome, outcome=Outcome.ALREADY_GONE, reason=reason, judged=False)
    if scope.covers_tags(now.tags):
        return replace(outcome, outcome=Outcome.ALREADY_PRESENT, reason=f"{decision.reason}; the guard tag is there")
    if decision.uncertain and not _was_guarded(decision, now.tags, seen, scope):
        reason = f"{decision.reason}; nothing shows the group was guarded, so the tag is not put on: look at it"
        return replace(outcome, outcome=Outcome.NOT_RESTORED, reason=reason, judged=False)
    if dry_run:
        return replace(outcome, outcome=Outcome.WOULD_RESTORE)
    error = ec2.tag_group(decision.group_id, decision.key, decision.value)
    if error is None:
        try:
            group = ec2.describe_group(decision.group_id, fresh=True)
        except Exception as failure:  # the tag stands; only the proof is missing
            error = f"tagged, but the check afterwards failed: {failure}"
        else:
            if group is not None and group.tags.get(decision.key) != decision.value:
                error = "EC2 answered that it set the tag, but the group does not carry it"
    out = "; the group stays guarded by this event's judgement, but drops out of the sentry's sight after it"
    if error is not None and error.startswith("TagLimitExceeded"):
        # No room for one more tag: no retry can change that, so it is reported once, not raised.
        reason = f"{decision.reason}; the group carries 50 tags, so the guard tag cannot go back{out}"
        return replace(outcome, outcome=Outcome.NOT_RESTORED, reason=reason, error=error)
    if error is not None:
        return replace(outcome, outcome=Outcome.RESTORE_FAILED, reason=decision.reason + out, error=error)
    return outcome


def _was_guarded(decision: TagDecision, tags: Mapping[str, str], seen: GroupInfo | None, scope: GroupScope) -> bool:
    """After a truncated tag call: a CreateTags cannot delete the guard key, so only another value of it
    means the guard went; after a DeleteTags, only this container's last look can say it was there."""
    if decision.created:
        return decision.key in tags
    return seen is not None and scope.covers_tags(seen.tags)


def exempt_words(pattern: str) -> str:
    return f"made by an exempt principal (matches {pattern}), so it stays"
