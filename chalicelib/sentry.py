"""Handle one security-group change: read it, judge each rule, revert, report.

The order matters and is deliberate. With guarded groups listed by ID and
rule IDs in the record, the first AWS call is the revoke: every lookup that
only serves the email (the group's name) happens after it, so a forbidden
rule stays open no longer than the revoke takes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.config import ConfigError, Settings
from chalicelib.ec2 import GroupInfo, RevokeResult, RevokeStatus, SecurityGroups, describe_error
from chalicelib.events import EventNotUnderstood, EventOutOfScope, SecurityGroupChange, parse_event, peek_event_id
from chalicelib.identity import OwnIdentity
from chalicelib.logs import DecisionLog
from chalicelib.notify import NotificationFailed, SnsNotifier
from chalicelib.outcome import HandledChange, Outcome, RuleOutcome
from chalicelib.policy import GroupScope, Policy, decide
from chalicelib.report import Report, build_report, problem_report, rule_document
from chalicelib.rules import Direction, Rule

# What Lambda itself needs to write the function's logs.
LAMBDA_LOGGING = frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"})
# Every IAM action the deployed function needs: .chalice/policy-<stage>.json grants exactly these.
REQUIRED_PERMISSIONS = SecurityGroups.PERMISSIONS | SnsNotifier.PERMISSIONS | LAMBDA_LOGGING


class RevertFailed(RuntimeError):
    """At least one forbidden rule could not be revoked; raised so Lambda retries and alarms."""


class Aws(Protocol):
    def security_groups(self, region: str) -> SecurityGroups: ...

    def notifier(self, topic_arn: str) -> SnsNotifier: ...

    def own_identity(self, region: str, env: Mapping[str, str]) -> OwnIdentity: ...


class BotoAws:
    """The real adapters, over cached boto3 clients."""

    def security_groups(self, region: str) -> SecurityGroups:
        return SecurityGroups(aws.client("ec2", region))

    def notifier(self, topic_arn: str) -> SnsNotifier:
        region = topic_arn.split(":")[3]
        return SnsNotifier(aws.client("sns", region), topic_arn)

    def own_identity(self, region: str, env: Mapping[str, str]) -> OwnIdentity:
        return OwnIdentity(lambda: aws.client("sts", region), env.get("AWS_LAMBDA_FUNCTION_NAME"))


def handle(raw: Any) -> dict[str, Any]:
    """The Lambda entry point's work: handle the event, answer with a short JSON summary."""
    handled = handle_event(raw)
    if handled is None:
        return {"outcome": "ignored"}
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
) -> HandledChange | None:
    """Handle one EventBridge event; return what was done, or None when it was not ours.

    Raises `ConfigError` for bad settings, `RevertFailed` when a revoke
    failed and `NotificationFailed` when SNS did: each is logged first.
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
    try:
        change = parse_event(raw)
    except EventOutOfScope as error:
        log.write("INFO", f"ignored, not a change this sentry handles: {error}", "out-of-scope")
        return None
    except EventNotUnderstood as error:
        # Retrying cannot help, so no raise; but a change nobody evaluated
        # must not pass in silence.
        event_id = peek_event_id(raw)
        log.write("ERROR", f"ignored an event it cannot read: {error}", "not-understood", event_id=event_id)
        region = env.get("AWS_REGION", "unknown")
        failure = _publish(
            problem_report(str(error), region, event_id), settings, services, log, {"event_id": event_id}
        )
        if failure is not None:
            raise failure from error  # neither evaluated nor reported: Lambda must retry
        return None

    context = {
        "event_id": change.event_id,
        "event_name": change.event_name,
        "actor": change.actor.name,
        "dry_run": settings.dry_run,
    }
    if change.failed:
        message = f"ignored: the call failed ({change.error_code}), so it changed nothing"
        log.write("INFO", message, "ignored", group_id=change.group_id, **context)
        return None
    if services.own_identity(change.region, env).made(change.actor):
        # What the sentry itself changes (restores, when it makes them) must never start another round.
        message = "ignored: the sentry made this change itself"
        log.write("WARNING", message, "own-change", group_id=change.group_id, **context)
        return None

    try:
        ec2 = services.security_groups(change.region)
        group_id, group = _guarded_group(change, settings.scope, ec2)
        if group_id is None:
            target = change.group_id or f"group named {change.group_name!r}"
            message = f"ignored: {target} is not guarded ({settings.scope})"
            log.write("INFO", message, "not-guarded", group_id=change.group_id, **context)
            return None
        judged = _judge(change, settings.policy, ec2)
    except (ClientError, BotoCoreError, ValueError) as error:
        problem = f"could not look up the group or its rules: {describe_error(error)}"
        log.write("ERROR", problem, "failed", group_id=change.group_id, **context)
        _publish(problem_report(problem, change.region, change.event_id, change), settings, services, log, context)
        raise

    outcomes = _revert(judged, group_id, ec2, settings.dry_run)
    group = group or _lookup_quietly(ec2, group_id)
    handled = HandledChange(
        change=change,
        group_id=group_id,
        group_name=group.name if group else change.group_name,
        mode=settings.policy.mode.value,
        dry_run=settings.dry_run,
        rules=tuple(outcomes),
    )
    level = "ERROR" if handled.failures or change.unreadable else "INFO"
    rules = [rule_document(item) for item in handled.rules]
    report = build_report(handled)
    log.write(level, report.subject, handled.summary, group_id=group_id, rules=rules, **context)
    failure = _publish(report, settings, services, log, context | {"group_id": group_id})
    if failure is not None and not handled.failures:
        # The revert is idempotent: Lambda's retry reports the rules as already gone.
        raise failure
    if handled.failures:
        errors = "; ".join(f"{item.rule}: {item.error}" for item in handled.failures)
        raise RevertFailed(f"could not revert {len(handled.failures)} rule(s) on {group_id}: {errors}")
    return handled


def _guarded_group(
    change: SecurityGroupChange, scope: GroupScope, ec2: SecurityGroups
) -> tuple[str | None, GroupInfo | None]:
    """The group's ID if it is guarded, and its description if one had to be fetched."""
    group = None
    group_id = change.group_id
    if group_id is None and change.group_name:
        group = ec2.find_group_by_name(change.group_name)
        group_id = group.group_id if group else None
    if group_id is None:
        return None, None
    if scope.covers_id(group_id):
        return group_id, group
    if scope.tag_key is None:
        return None, None
    group = group or ec2.describe_group(group_id)
    if group is not None and scope.covers_tags(group.tags):
        return group_id, group
    return None, None


# A rule paired with the decision about it, or with the outcome already known.
Judged = tuple[Rule, Outcome | None, str]


def _judge(change: SecurityGroupChange, policy: Policy, ec2: SecurityGroups) -> list[Judged]:
    rules: list[Rule] = list(change.added)
    judged: list[Judged] = []
    if change.updates:
        # CloudTrail does not say whether a modified rule is ingress or egress.
        current = ec2.describe_rules([update.rule_id for update in change.updates])
        for update in change.updates:
            now = current.get(update.rule_id)
            if now is None:
                reason = f"rule {update.rule_id} no longer exists; nothing to revert"
                judged.append((update.as_rule(Direction.UNKNOWN), Outcome.ALREADY_GONE, reason))
            elif now != update.as_rule(now.direction):
                # Revoking by ID now would remove whatever the rule has
                # become, which a later (perhaps exempt) change decided.
                reason = f"rule {update.rule_id} is now {now}; that later change is judged on its own event"
                judged.append((update.as_rule(now.direction), Outcome.SUPERSEDED, reason))
            else:
                rules.append(update.as_rule(now.direction))
    for rule in rules:
        decision = decide(rule, change.actor, policy)
        judged.append((rule, None if decision.revert else Outcome.ALLOWED, decision.reason))
    return judged


def _revert(judged: Sequence[Judged], group_id: str, ec2: SecurityGroups, dry_run: bool) -> list[RuleOutcome]:
    to_revert = [rule for rule, known, _ in judged if known is None]
    results: dict[Rule, RevokeResult] = {}
    if not dry_run:
        for direction in (Direction.INGRESS, Direction.EGRESS):
            batch = [rule for rule in to_revert if rule.direction is direction]
            if batch:
                results.update((result.rule, result) for result in ec2.revoke(group_id, direction, batch))
    outcomes = []
    for rule, known, reason in judged:
        if known is not None:
            outcomes.append(RuleOutcome(rule, known, reason))
        elif dry_run:
            outcomes.append(RuleOutcome(rule, Outcome.WOULD_REVERT, reason))
        else:
            outcomes.append(_outcome(rule, reason, results.get(rule)))
    return outcomes


def _outcome(rule: Rule, reason: str, result: RevokeResult | None) -> RuleOutcome:
    if result is None:
        return RuleOutcome(rule, Outcome.FAILED, reason, "no answer from EC2 for this rule")
    if result.status is RevokeStatus.REVOKED:
        return RuleOutcome(rule, Outcome.REVERTED, reason)
    if result.status is RevokeStatus.ALREADY_GONE:
        return RuleOutcome(rule, Outcome.ALREADY_GONE, f"{reason}; the rule was already gone")
    return RuleOutcome(rule, Outcome.FAILED, reason, result.error)


def _lookup_quietly(ec2: SecurityGroups, group_id: str) -> GroupInfo | None:
    """The group's name is only for the email: failing to get it, however, must not stop the report."""
    try:
        return ec2.describe_group(group_id)
    except Exception:  # an error, a malformed answer: the report goes out without the name
        return None


def _publish(
    report: Report, settings: Settings, services: Aws, log: DecisionLog, context: dict[str, Any]
) -> NotificationFailed | None:
    """Publish to the topic, if one is set; log either way and return the failure, if any."""
    if settings.topic_arn is None:
        return None
    try:
        message_id = services.notifier(settings.topic_arn).publish(report)
    except NotificationFailed as error:
        log.write("ERROR", str(error), "notification-failed", **context)
        return error
    log.write("INFO", f"notified {settings.topic_arn} (message {message_id})", "notified", **context)
    return None
