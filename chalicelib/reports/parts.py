"""The parts every report shares: a rule, an unreadable rule, who made the call; in lines and in JSON."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.change import Actor
from chalicelib.domain.outcome import Outcome, RuleOutcome, UnreadableOutcome
from chalicelib.reports.text import clean

# Outcomes of an approved rule being put back (rather than a present rule being acted on).
PUT_BACK = (Outcome.RESTORED, Outcome.WOULD_RESTORE, Outcome.ALREADY_PRESENT, Outcome.RESTORE_FAILED)


def rule_lines(number: int, item: RuleOutcome) -> list[str]:
    rule = item.rule
    head = f"  {number}. {clean(rule, 200)}"
    if rule.rule_id and item.outcome in PUT_BACK and item.approved is None:
        # A rule put back gets a new ID from AWS; the one shown is the ID it had when approved.
        head += f" [was {clean(rule.rule_id, 64)}]"
    elif rule.rule_id:
        head += f" [{clean(rule.rule_id, 64)}]"
    if rule.description:
        head += f' "{clean(rule.description, 120)}"'
    detail = f"     {item.outcome.value.upper()}: {clean(item.reason)}"
    if item.error:
        detail += f" (AWS error: {clean(item.error)})"
    lines = [head, detail]
    if item.approved is not None:
        lines.append(f"     Approved definition: {clean(item.approved, 200)}")
    return lines


def rule_document(item: RuleOutcome) -> dict[str, Any]:
    rule = item.rule
    return {
        "rule": clean(rule, 200),
        "rule_id": clean(rule.rule_id, 64) if rule.rule_id else None,
        "direction": rule.direction.value,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "source": clean(rule.source.value, 128),
        "source_kind": rule.source.kind.value,
        "description": clean(rule.description) if rule.description else None,
        "outcome": item.outcome.word,
        "reason": clean(item.reason),
        "error": clean(item.error) if item.error else None,
        "approved": clean(item.approved, 200) if item.approved is not None else None,
    }


def unreadable_lines(number: int, item: UnreadableOutcome) -> list[str]:
    head = f"  {number}. COULD NOT READ {clean(item.rule, 300)}"
    detail = f"     {item.outcome.value.upper()}: {clean(item.reason)}"
    if item.error:
        detail += f" (AWS error: {clean(item.error)})"
    return [head, detail]


def unreadable_document(item: UnreadableOutcome) -> dict[str, Any]:
    return {
        "rule": clean(item.rule, 300),
        "rule_id": clean(item.rule.rule_id, 64) if item.rule.rule_id else None,
        "direction": item.rule.direction.value,
        "problem": clean(item.rule.problem),
        "outcome": item.outcome.word,
        "reason": clean(item.reason),
        "error": clean(item.error) if item.error else None,
    }


def who_lines(actor: Actor) -> list[str]:
    """Who made the call, for any report about an event."""
    return [
        "Who",
        f"  Principal    {clean(actor.arn or 'unknown')}",
        f"  Identity     {clean(actor.identity_type)}"
        + (f" (role {clean(actor.session_issuer_arn)})" if actor.session_issuer_arn else ""),
        f"  Source IP    {clean(actor.source_ip or 'unknown')}",
        f"  Through      {_channel(actor)}; user agent {clean(actor.user_agent or 'unknown')}",
    ]


def actor_document(actor: Actor) -> dict[str, Any]:
    return {
        "arn": clean(actor.arn) if actor.arn else None,
        "type": clean(actor.identity_type),
        "session_issuer_arn": clean(actor.session_issuer_arn) if actor.session_issuer_arn else None,
        "source_ip": clean(actor.source_ip) if actor.source_ip else None,
        "user_agent": clean(actor.user_agent) if actor.user_agent else None,
        "invoked_by": clean(actor.invoked_by) if actor.invoked_by else None,
        "console": actor.console,
    }


def _channel(actor: Actor) -> str:
    """How the call was made: a service on someone's behalf, the console, or the API."""
    if actor.invoked_by:
        return f"{clean(actor.invoked_by)}, on the principal's behalf"
    return "the AWS console" if actor.console else "the API"
