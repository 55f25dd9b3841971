"""Handle one event: read it, judge each rule, revert, report.

The order matters and is deliberate. With guarded groups listed by ID and
rule IDs in the record, the first AWS call is the revoke: every lookup that
only serves the email (the group's name) happens after it, so a forbidden
rule stays open no longer than the revoke takes. The revoke names each rule
by its definition, so a rule its author corrected before the event arrived
(narrowed to 10.0.0.0/8, say) is left as it now is.

Events that change no rule of their own but may open a guarded group (its
guard tag, a prefix list, an interface, a truncated record) go to `rejudge`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import baseline
from chalicelib.baseline import ApprovedGroup, Baseline, BaselineError
from chalicelib.config import ConfigError, Settings
from chalicelib.drift import Fix, Step, back_to_baseline
from chalicelib.ec2 import GroupInfo, SecurityGroups, describe_error
from chalicelib.ec2_interfaces import NetworkInterfaces
from chalicelib.ec2_prefix_lists import PrefixLists
from chalicelib.events import EventNotUnderstood, EventOutOfScope, SecurityGroupChange, peek_event_id
from chalicelib.identity import OwnIdentity
from chalicelib.indirect import IndirectChange, beside, parse_change, truncated_rest
from chalicelib.logs import DecisionLog
from chalicelib.notify import SnsNotifier
from chalicelib.outcome import HandledChange, Outcome, RevertFailed, RuleOutcome, SweepResult, UnreadableOutcome
from chalicelib.policy import (
    GroupScope,
    Mode,
    Policy,
    decide,
    exempt_pattern,
    judge_exposure,
    reaches_past_approval,
)
from chalicelib.prefix_lists import ListContents
from chalicelib.remedy import UNREADABLE_LEFT, UNREADABLE_REVOKED, carry_out, revoke_unreadable, verified_unreadable
from chalicelib.report import build_report, problem_report, rule_document
from chalicelib.rules import Direction, Rule, SourceKind, UnreadableRule
from chalicelib.services import Aws, BotoAws, publish

__all__ = ["REQUIRED_PERMISSIONS", "RevertFailed", "handle", "handle_event"]

# What Lambda itself needs to write the function's logs.
LAMBDA_LOGGING = frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"})
# Every IAM action the deployed function needs: .chalice/policy-<stage>.json grants exactly these.
REQUIRED_PERMISSIONS = (
    SecurityGroups.PERMISSIONS
    | PrefixLists.PERMISSIONS
    | NetworkInterfaces.PERMISSIONS
    | SnsNotifier.PERMISSIONS
    | LAMBDA_LOGGING
)


def handle(raw: Any) -> dict[str, Any]:
    """The Lambda entry point's work: handle the event, answer with a short JSON summary."""
    handled = handle_event(raw)
    if handled is None:
        return {"outcome": "ignored"}
    if isinstance(handled, SweepResult):
        return handled.as_dict()
    return {
        "outcome": handled.summary,
        "event_id": handled.change.event_id,
        "group_id": handled.group_id,
        "rules": {outcome.value: handled.count(outcome) for outcome in Outcome if handled.count(outcome)},
    }


def handle_event(
    raw: Any,
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
) -> HandledChange | SweepResult | None:
    """Handle one EventBridge event; return what was done, or None when it was not ours.

    Raises `ConfigError` or `BaselineError` for bad settings, `RevertFailed`
    when a revoke or a restore failed and `NotificationFailed` when SNS did:
    each is logged first.
    """
    env = os.environ if env is None else env
    services = services or BotoAws()
    log = log or DecisionLog()
    try:
        settings = Settings.from_env(env)
    except ConfigError as error:
        log.write("ERROR", str(error), "config-error")
        raise
    if not settings.scope.guards_anything:
        log.write("WARNING", "no security group is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG", "ignored")
        return None
    change = _read(raw, env, settings, services, log)
    if isinstance(change, IndirectChange):
        from chalicelib.rejudge import handle_indirect

        return handle_indirect(change, settings, env, services, log)
    if change is None:
        return None
    context = {
        "event_id": change.event_id,
        "event_name": change.event_name,
        "actor": change.actor.name,
        "dry_run": settings.dry_run,
    }
    passed_over = _passed_over(change, settings, services.own_identity(change.region, env))
    if passed_over is not None:
        level, message, outcome = passed_over
        log.write(level, message, outcome, group_id=change.group_id, **context)
        return None

    try:
        ec2 = services.security_groups(change.region)
        approved_file = baseline.load(settings.baseline_path)
        group_id, group = _guarded_group(change, settings.scope, ec2, approved_file)
        if group_id is not None:
            approved = _approved(settings, approved_file, group_id, change.region)
            planned, unreadable, why_nothing = _plan(change, settings.policy, ec2, services, approved)
    except BaselineError as error:
        problem = f"could not read the baseline, so nothing was judged: {error}"
        log.write("ERROR", problem, "failed", group_id=change.group_id, **context)
        publish(problem_report(problem, change.region, change.event_id, change), settings, services, log, context)
        raise
    except (ClientError, BotoCoreError, ValueError, KeyError) as error:
        problem = f"could not look up the group or its rules: {describe_error(error)}"
        log.write("ERROR", problem, "failed", group_id=change.group_id, **context)
        publish(problem_report(problem, change.region, change.event_id, change), settings, services, log, context)
        raise
    if group_id is None:
        target = change.group_id or f"group named {change.group_name!r}"
        message = f"ignored: {target} is not guarded ({settings.scope})"
        log.write("INFO", message, "not-guarded", group_id=change.group_id, **context)
        return _beside(change, settings, env, services, log)
    if not planned and not unreadable:
        log.write("INFO", f"nothing to do: {why_nothing}", "nothing-to-do", group_id=group_id, **context)
        return None

    exempt = exempt_pattern(change.actor, settings.policy.exempt_principals)
    left = UNREADABLE_LEFT if exempt is None else f"made by an exempt principal (matches {exempt}); left as it is"
    revokes = settings.policy.mode is Mode.LOCKDOWN and exempt is None
    outcomes, unreadable_outcomes = _act(planned, unreadable, group_id, ec2, settings.dry_run, revokes, left)
    group = group or _lookup_quietly(ec2, group_id)
    handled = HandledChange(
        change=change,
        group_id=group_id,
        group_name=group.name if group else change.group_name,
        mode=settings.policy.mode.value,
        dry_run=settings.dry_run,
        rules=tuple(outcomes),
        baseline_rules=len(approved.rules) if approved is not None else None,
        unreadable=tuple(unreadable_outcomes),
    )
    try:
        _report(handled, settings, services, log, context)
    finally:
        if change.truncated and (change.unreadable or change.unreadable_rules):
            # CloudTrail cut part of the record: what it hid cannot be judged from it, so the group is judged now.
            from chalicelib.rejudge import handle_indirect

            handle_indirect(truncated_rest(change, group_id), settings, env, services, log)
    return handled


def _read(
    raw: Any, env: Mapping[str, str], settings: Settings, services: Aws, log: DecisionLog
) -> SecurityGroupChange | IndirectChange | None:
    """The change the event records, or None (logged) when it is not ours or cannot be read."""
    try:
        return parse_change(raw)
    except EventOutOfScope as error:
        log.write("INFO", f"ignored, not a change this sentry handles: {error}", "out-of-scope")
        return None
    except EventNotUnderstood as error:
        # Retrying cannot help, so no raise; but a change nobody evaluated
        # must not pass in silence.
        event_id = peek_event_id(raw)
        log.write("ERROR", f"ignored an event it cannot read: {error}", "not-understood", event_id=event_id)
        region = env.get("AWS_REGION", "unknown")
        failure = publish(problem_report(str(error), region, event_id), settings, services, log, {"event_id": event_id})
        if failure is not None:
            raise failure from error  # neither evaluated nor reported: Lambda must retry
        return None


def _passed_over(change: SecurityGroupChange, settings: Settings, own: OwnIdentity) -> tuple[str, str, str] | None:
    """(level, message, outcome) when the change needs no look at the group at all."""
    if change.failed:
        return "INFO", f"ignored: the call failed ({change.error_code}), so it changed nothing", "ignored"
    if change.is_revoke and settings.policy.mode is not Mode.LOCKDOWN:
        message = "nothing to do: a revoke matters only on a group held to a baseline (lockdown mode)"
        return "INFO", message, "nothing-to-do"
    if own.made(change.actor):
        # What the sentry itself changes (reverts, restores, the sweep's) must never start another round.
        return "WARNING", "ignored: the sentry made this change itself", "own-change"
    return None


def _report(
    handled: HandledChange, settings: Settings, services: Aws, log: DecisionLog, context: dict[str, Any]
) -> None:
    """Log and publish what was done; raise if anything failed, so Lambda retries and alarms."""
    incomplete = handled.change.unreadable or handled.count(Outcome.UNREADABLE)
    level = "ERROR" if handled.failures or incomplete else "INFO"
    rules = [rule_document(item) for item in handled.rules]
    report = build_report(handled)
    log.write(level, report.subject, handled.summary, group_id=handled.group_id, rules=rules, **context)
    failure = publish(report, settings, services, log, context | {"group_id": handled.group_id})
    if failure is not None and not handled.failures:
        # Reverts and restores are idempotent: Lambda's retry reports them as already done.
        raise failure
    if handled.failures:
        errors = "; ".join(f"{item.rule}: {item.error}" for item in handled.failures)
        raise RevertFailed(
            f"could not revert or restore {len(handled.failures)} rule(s) on {handled.group_id}: {errors}"
        )


def _guarded_group(
    change: SecurityGroupChange, scope: GroupScope, ec2: SecurityGroups, approved: Baseline
) -> tuple[str | None, GroupInfo | None]:
    """The group's ID if it is guarded, and its description if one had to be fetched.

    A group with a baseline entry is guarded whatever its tags say. By tag,
    a cached look may say "guarded" (a tag removed since is itself an event
    the sentry handles), but "not guarded" is only ever said by a fresh
    read: a cached answer must never let a forbidden change through.
    """
    group = None
    group_id = change.group_id
    if group_id is None and change.group_name:
        group = ec2.find_group_by_name(change.group_name)
        group_id = group.group_id if group else None
    if group_id is None:
        return None, None
    if scope.covers_id(group_id) or group_id in approved.group_ids(change.region):
        return group_id, group
    if scope.tag_key is None:
        return None, None
    cached = group or ec2.cached_group(group_id)
    if cached is not None and scope.covers_tags(cached.tags):
        return group_id, cached
    group = ec2.describe_group(group_id, fresh=True)
    if group is not None and scope.covers_tags(group.tags):
        return group_id, group
    return None, None


def _beside(
    change: SecurityGroupChange, settings: Settings, env: Mapping[str, str], services: Aws, log: DecisionLog
) -> SweepResult | None:
    """An unguarded group's change that may open it: look at the guarded workloads it is attached to, if any."""
    if change.group_id is None or not _may_open_a_workload(change, settings):
        return None
    from chalicelib.rejudge import handle_indirect

    found = handle_indirect(beside(change, change.group_id), settings, env, services, log)
    return found if found is not None and (found.found_something or found.failed) else None


def _may_open_a_workload(change: SecurityGroupChange, settings: Settings) -> bool:
    """Whether a change to an unguarded group could open a guarded workload it is attached to.

    The side door: an unguarded group opened after it was attached beside a
    guarded one. Worth one look at the interfaces (DescribeNetworkInterfaces)
    when the change may open the group to the internet: a rule that internet
    mode would revert (a prefix list unread counts as the internet), a
    modification (CloudTrail does not say whether it is ingress), or a rule
    that cannot be read. With every group guarded there is no side door.
    """
    if settings.scope.all_groups or change.is_revoke:
        return False
    if exempt_pattern(change.actor, settings.policy.exempt_principals) is not None:
        return False  # the sweep, which sees no actors, judges it
    opening = any(judge_exposure(rule, settings.policy).revert for rule in change.added)
    return opening or bool(change.updates or change.unreadable or change.unreadable_rules)


def _approved(settings: Settings, approved: Baseline, group_id: str, region: str) -> ApprovedGroup | None:
    """The group's baseline; only lockdown mode holds a group to one."""
    if settings.policy.mode is not Mode.LOCKDOWN:
        return None
    return approved.for_group(group_id, region)


# In report order: what must be done (a Step), or what is known already (a RuleOutcome).
Planned = list[Step | RuleOutcome]


def _plan(
    change: SecurityGroupChange, policy: Policy, ec2: SecurityGroups, services: Aws, approved: ApprovedGroup | None
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
        steps = back_to_baseline(present.rules, approved.rules, lambda rule: reaches_past_approval(rule, policy, lists))
        planned: Planned = list(steps)
        updated = {update.rule_id for update in change.updates}
        planned += [
            RuleOutcome(rule, Outcome.ALLOWED, "approved in the baseline")
            for rule in present.rules
            if rule.rule_id in updated and rule in approved.approved and not any(s.rule == rule for s in steps)
        ]
        return planned, [*unreadable, *present.unreadable], "the group holds exactly its approved rules"
    return _judge(change, policy, ec2, services, approved), unreadable, "no rule to judge"


def _judge(
    change: SecurityGroupChange, policy: Policy, ec2: SecurityGroups, services: Aws, approved: ApprovedGroup | None
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
    for rule in rules:
        decision = decide(rule, change.actor, policy, allowed, lists)
        if decision.revert:
            # By definition: EC2 removes it only while it is still what the record says it became.
            planned.append(Step(Fix.REVOKE, rule, decision.reason))
        else:
            planned.append(RuleOutcome(rule, Outcome.ALLOWED, decision.reason))
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


def _act(
    planned: Planned,
    unreadable: list[UnreadableRule],
    group_id: str,
    ec2: SecurityGroups,
    dry_run: bool,
    revokes: bool,
    left: str,
) -> tuple[list[RuleOutcome], list[UnreadableOutcome]]:
    steps = [item for item in planned if isinstance(item, Step)]
    done = iter(carry_out(steps, group_id, ec2, dry_run))
    outcomes = [next(done) if isinstance(item, Step) else item for item in planned]
    return outcomes, _unreadable(unreadable, group_id, ec2, dry_run, revokes, left)


def _unreadable(
    items: list[UnreadableRule], group_id: str, ec2: SecurityGroups, dry_run: bool, revokes: bool, left: str
) -> list[UnreadableOutcome]:
    """Revoke unreadable rules by ID (lockdown, not exempt), or list them for a person to look at."""
    if not items:
        return []
    if not revokes:
        return [UnreadableOutcome(item, Outcome.UNREADABLE, left) for item in items]
    outcomes = revoke_unreadable(group_id, items, ec2, dry_run, UNREADABLE_REVOKED)
    if not any(item.unproven for item in outcomes):
        return outcomes
    try:
        return verified_unreadable(outcomes, ec2.group_rules(group_id).rule_ids)
    except Exception:  # the revokes stand; the report says they were not checked
        return outcomes


def _lookup_quietly(ec2: SecurityGroups, group_id: str) -> GroupInfo | None:
    """The group's name is only for the email: failing to get it, however, must not stop the report."""
    try:
        return ec2.describe_group(group_id)
    except Exception:  # an error, a malformed answer: the report goes out without the name
        return None
