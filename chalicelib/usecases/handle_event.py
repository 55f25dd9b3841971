"""One event, as one pipeline: read it, scope it to a guarded group, plan, carry out, report.

The order matters and is deliberate. With guarded groups listed by ID and
rule IDs in the record, the first AWS call is the revoke: every lookup that
only serves the email (the group's name) happens after it, so a forbidden
rule stays open no longer than the revoke takes. The revoke names each rule
by its definition, so a rule its author corrected before the event arrived
(narrowed to 10.0.0.0/8, say) is left as it now is.

Events that change no rule of their own but may open a guarded group (its
guard tag, a prefix list, an interface, a truncated record) go to `rejudge`,
which judges what they point at as the sweep does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.log import DecisionLog, Level
from chalicelib.cloudtrail.indirect import parse_change
from chalicelib.cloudtrail.records import EventNotUnderstood, EventOutOfScope, peek_event_id
from chalicelib.domain.baseline import BaselineError
from chalicelib.domain.change import IndirectChange, SecurityGroupChange, beside, truncated_rest
from chalicelib.domain.errors import AwsError, RevertFailed, describe
from chalicelib.domain.metrics import NOT_UNDERSTOOD
from chalicelib.domain.outcome import HandledChange, PassedOver, Summary, SweepResult
from chalicelib.domain.policy import Mode, exempt_pattern, judge_exposure
from chalicelib.domain.ports import Aws
from chalicelib.reports.problem import problem_report
from chalicelib.usecases.pipeline import Invocation, finish, start
from chalicelib.usecases.rule_change import carry_out_change, plan_change

__all__ = ["handle", "handle_event"]

Handled = HandledChange | SweepResult | PassedOver


def handle(raw: Any, home: str | None = None) -> dict[str, Any]:
    """The Lambda entry point's work: handle the event, answer with a short JSON summary (its log's word)."""
    return handle_event(raw, home=home).as_dict()


def handle_event(
    raw: Any,
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    home: str | None = None,
) -> Handled:
    """Handle one EventBridge event; return what was done, or why nothing was (`PassedOver`, as logged).

    Raises `ConfigError` or `BaselineError` for bad settings, `AwsError`
    when the group cannot be looked up, `RevertFailed` when a revoke or a
    restore failed and `NotificationFailed` when SNS did: each is logged first.
    """
    run = start(env, services, log, home)
    nothing = run.guards_nothing()
    if nothing is not None:
        return nothing
    change = _read(raw, run)
    if isinstance(change, PassedOver):
        return change
    if isinstance(change, IndirectChange):
        return handle_indirect(change, run)
    run = run.about(
        event_id=change.event_id, event_name=change.event_name, actor=change.actor.name, dry_run=run.settings.dry_run
    )
    passed = _passed_over(change, run)
    if passed is not None:
        return passed
    acting = _acting_in(change, run)
    if isinstance(acting, PassedOver):
        return acting
    run = acting
    try:
        plan = plan_change(change, run)
    except (BaselineError, AwsError, ValueError, KeyError) as error:
        _cannot_evaluate(change, run, error)
        raise
    if plan is None:
        return _not_guarded(change, run)
    if plan.empty:
        return run.pass_over(
            Level.INFO, f"nothing to do: {plan.why_nothing}", Summary.NOTHING_TO_DO, group_id=plan.group_id
        )
    handled = carry_out_change(change, plan, run)
    try:
        finish(run, handled, RevertFailed)
    finally:
        if change.truncated and (change.unreadable or change.unreadable_rules):
            # CloudTrail cut part of the record: what it hid cannot be judged from it, so the group is judged now.
            handle_indirect(truncated_rest(change, plan.group_id), run)
    return handled


def handle_indirect(change: IndirectChange, run: Invocation) -> SweepResult | PassedOver:
    """An event around a rule change (`rejudge`): judged at once, as the sweep judges."""
    # Imported here: most events change rules, and their cold start need not load the judging of groups.
    from chalicelib.usecases.rejudge import handle_indirect as rejudge

    return rejudge(change, run)


def _read(raw: Any, run: Invocation) -> SecurityGroupChange | IndirectChange | PassedOver:
    """The change the event records, or why not (logged) when it is not ours or cannot be read."""
    try:
        return parse_change(raw)
    except EventOutOfScope as error:
        return run.pass_over(Level.INFO, f"not a change this sentry handles: {error}", Summary.OUT_OF_SCOPE)
    except EventNotUnderstood as error:
        # Retrying cannot help, so no raise; but a change nobody evaluated must not pass in silence.
        about = run.about(event_id=peek_event_id(raw))
        passed = about.pass_over(
            Level.ERROR, f"cannot read the event: {error}", Summary.NOT_UNDERSTOOD, metrics=run.metrics(NOT_UNDERSTOOD)
        )
        region = run.env.get("AWS_REGION", "unknown")
        failure = about.publish(problem_report(str(error), region, passed.event_id))
        if failure is not None:
            raise failure from error  # neither evaluated nor reported: Lambda must retry
        return passed


def _passed_over(change: SecurityGroupChange, run: Invocation) -> PassedOver | None:
    """Why (logged) the change needs no look at the group at all; None when it needs one."""
    said: tuple[Level, str, Summary] | None = None
    if change.failed:
        message = f"nothing to do: the call failed ({change.error_code}), so it changed nothing"
        said = Level.INFO, message, Summary.NOTHING_TO_DO
    elif change.is_revoke and run.settings.policy.mode is not Mode.LOCKDOWN:
        message = "nothing to do: a revoke matters only on a group held to a baseline (lockdown mode)"
        said = Level.INFO, message, Summary.NOTHING_TO_DO
    elif run.services.own_identity(change.region, run.env).made(change.actor):
        # What the sentry itself changes (reverts, restores, the sweep's) must never start another round.
        said = Level.WARNING, "the sentry made this change itself", Summary.OWN_CHANGE
    return None if said is None else run.pass_over(*said, group_id=change.group_id)


def _acting_in(change: SecurityGroupChange, run: Invocation) -> Invocation | PassedOver:
    """The invocation acting in the record's account; why not (logged) when that account is not guarded."""
    try:
        return run.acting_in(change.account, change.event_id, change.region)
    except AwsError as error:
        problem = f"could not act in account {change.account or 'of the deployment'}: {describe(error)}"
        report = problem_report(problem, change.region, change.event_id, change, account=change.account)
        run.cannot_evaluate(problem, report, group_id=change.group_id)
        raise


def _cannot_evaluate(change: SecurityGroupChange, run: Invocation, error: Exception) -> None:
    if isinstance(error, BaselineError):
        problem = f"could not read the baseline, so nothing was judged: {error}"
    else:
        problem = f"could not look up the group or its rules: {describe(error)}"
    report = problem_report(problem, change.region, change.event_id, change, account=run.account_label())
    run.cannot_evaluate(problem, report, group_id=change.group_id)


def _not_guarded(change: SecurityGroupChange, run: Invocation) -> SweepResult | PassedOver:
    """Said so; and an unguarded group's change that may open it: the guarded workloads it is attached to."""
    target = change.group_id or f"group named {change.group_name!r}"
    message = f"{target} is not guarded ({run.settings.scope})"
    passed = run.pass_over(Level.INFO, message, Summary.NOT_GUARDED, group_id=change.group_id)
    if change.group_id is None or not _may_open_a_workload(change, run):
        return passed
    found = handle_indirect(beside(change, change.group_id), run)
    return found if isinstance(found, SweepResult) and (found.found_something or found.failed) else passed


def _may_open_a_workload(change: SecurityGroupChange, run: Invocation) -> bool:
    """Whether a change to an unguarded group could open a guarded workload it is attached to.

    The side door: an unguarded group opened after it was attached beside a
    guarded one. Worth one look at the interfaces (DescribeNetworkInterfaces)
    when the change may open the group to the internet: a rule that internet
    mode would revert (a prefix list unread counts as the internet), a
    modification (CloudTrail does not say whether it is ingress), or a rule
    that cannot be read. With every group guarded there is no side door.
    """
    settings = run.settings
    if settings.scope.all_groups or change.is_revoke:
        return False
    if exempt_pattern(change.actor, settings.policy.exempt_principals) is not None:
        return False  # the sweep, which sees no actors, judges it
    opening = any(judge_exposure(rule, settings.policy).revert for rule in change.added)
    return opening or bool(change.updates or change.unreadable or change.unreadable_rules)
