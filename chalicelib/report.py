"""The notification: an email in plain words and a JSON document, from one handled change.

Much of what reaches the report is chosen by whoever made the change (rule
descriptions, group names, user agents), so every such string is bounded
and stripped of control characters here. The subject obeys SNS's rules
(printable ASCII, no line breaks, under 100 characters) whatever the input,
so a hostile description can never make the publish fail.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.events import Actor, SecurityGroupChange
from chalicelib.outcome import HandledChange, Outcome, Outcomed, RuleOutcome, UnreadableOutcome

SUBJECT_LIMIT = 99
FIELD_LIMIT = 256
# SNS takes at most 256 KiB per message; the rest of the rules are counted, not listed.
SNS_MESSAGE_LIMIT = 256 * 1024 - 4096
LISTED_RULES_LIMITS = (100, 40, 15, 5)


@dataclass(frozen=True)
class Report:
    subject: str
    text: str
    document: dict[str, Any]

    def sns_message(self) -> str:
        """The body for ``Publish(MessageStructure="json")``: text for email, JSON for every other protocol."""
        document = json.dumps(self.document, ensure_ascii=False)
        return json.dumps({"default": document, "email": self.text, "sms": self.subject})


def clean(value: object, limit: int = FIELD_LIMIT) -> str:
    """One line of printable text, at most `limit` characters."""
    text = str(value)
    # Nearly every field is printable ASCII, which has nothing to replace: checking each
    # character's Unicode category was most of the handler's own time (bench/event.py).
    if not (text.isascii() and text.isprintable()):
        text = "".join(" " if _is_control(char) else char for char in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subject_line(text: str) -> str:
    """An SNS-safe subject: printable ASCII, one line, at most SUBJECT_LIMIT characters."""
    ascii_text = "".join(char if 32 <= ord(char) < 127 else "?" for char in clean(text, 10_000))
    if len(ascii_text) > SUBJECT_LIMIT:
        ascii_text = ascii_text[: SUBJECT_LIMIT - 3] + "..."
    return ascii_text


def console_link(region: str, group_id: str) -> str:
    return f"https://{region}.console.aws.amazon.com/ec2/home?region={region}#SecurityGroup:groupId={group_id}"


def build_report(handled: HandledChange) -> Report:
    """The report, listing as many rules as fit in one SNS message."""
    for listed in LISTED_RULES_LIMITS:
        text = _text(handled, listed)
        report = Report(subject=_subject(handled), text=text, document=_document(handled, text, listed))
        if len(report.sns_message().encode()) <= SNS_MESSAGE_LIMIT:
            break
    return report


def _group_label(handled: HandledChange) -> str:
    name = f" ({clean(handled.group_name, 64)})" if handled.group_name else ""
    return f"{clean(handled.group_id, 32)}{name}"


def _subject(handled: HandledChange) -> str:
    tag = "sg-sentry [dry run]" if handled.dry_run else "sg-sentry"
    what = tally_words(handled.outcomes) or "nothing to revert, rules changed again since"
    if handled.change.unreadable:
        what = f"could not read {_parts(len(handled.change.unreadable))}, {what}"
    return subject_line(f"{tag}: {what} on {_group_label(handled)}")


# Outcomes of an approved rule being put back (rather than a present rule being acted on).
PUT_BACK = (Outcome.RESTORED, Outcome.WOULD_RESTORE, Outcome.ALREADY_PRESENT, Outcome.RESTORE_FAILED)
# What a subject line says first: failures, then what was (or would be) done.
SUBJECT_ORDER = (
    (Outcome.FAILED, "FAILED to revert {}"),
    (Outcome.RESTORE_FAILED, "FAILED to restore {}"),
    (Outcome.WOULD_REVERT, "would revert {}"),
    (Outcome.WOULD_RESTORE, "would restore {}"),
    (Outcome.REVERTED, "reverted {}"),
    (Outcome.RESTORED, "restored {}"),
    (Outcome.NOT_RESTORED, "did not restore {}"),
    (Outcome.UNREADABLE, "could not read {}"),
    (Outcome.CANNOT_CHANGE, "could not change {}"),
    (Outcome.ALREADY_GONE, "{} already gone"),
    (Outcome.ALREADY_PRESENT, "{} already back"),
    (Outcome.ALLOWED, "allowed {}"),
)


def tally_words(items: Sequence[Outcomed], limit: int = 2, noun: str = "rule") -> str:
    """The most important counts, e.g. "reverted 2 rules, restored 1 rule"."""
    counts = Counter(item.outcome for item in items)
    said = [template.format(plural(counts[outcome], noun)) for outcome, template in SUBJECT_ORDER if counts[outcome]]
    return ", ".join(said[:limit])


def _rules(count: int) -> str:
    return plural(count, "rule")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _parts(count: int) -> str:
    return f"{count} part" + ("" if count == 1 else "s")


def _headline(handled: HandledChange) -> str:
    change = handled.change
    if change.is_revoke:
        what = f"removed {_rules(len(change.removed))} from" if change.removed else "removed rules from"
    elif change.updates:
        what = f"redefined {_rules(len(change.updates))} on"
    else:
        what = f"added {_rules(len(change.added) + len(change.unreadable_rules))} to"
    tally = ", ".join(f"{count} {outcome.value}" for outcome in Outcome if (count := handled.count(outcome)))
    return (
        f"{clean(change.actor.name, 128)} {what} security group "
        f"{_group_label(handled)} with {clean(change.event_name)}. Outcome: {tally}."
    )


def _text(handled: HandledChange, listed: int) -> str:
    change, actor = handled.change, handled.change.actor
    lines = [_headline(handled), ""]
    lines += [
        "What changed",
        f"  Account      {clean(change.account or 'unknown')}",
        f"  Region       {clean(change.region)}",
        f"  Group        {_group_label(handled)}",
        f"  When         {clean(change.event_time)}",
        f"  Console      {console_link(clean(change.region, 32), handled.group_id)}",
        "",
        *who_lines(actor),
        "",
        "Rules",
    ]
    for number, item in enumerate(handled.rules[:listed], start=1):
        lines += rule_lines(number, item)
    hidden = len(handled.rules) - listed
    if hidden > 0:
        lines.append(f"  ... and {hidden} more rules (see the JSON document or the log).")
    first = min(len(handled.rules), listed) + 1
    for number, unreadable in enumerate(handled.unreadable[:listed], start=first):
        lines += unreadable_lines(number, unreadable)
    if change.removed:
        lines += ["", "Removed by this change, as CloudTrail recorded it"]
        lines += [f"  - {clean(rule, 200)}" for rule in change.removed[:listed]]
    if change.unreadable:
        lines += ["", "Could not read (check the group by hand; nothing was done about these)"]
        lines += [f"  COULD NOT READ: {clean(problem, 300)}" for problem in change.unreadable[:listed]]
        if len(change.unreadable) > listed:
            lines.append(f"  ... and {len(change.unreadable) - listed} more unreadable parts.")
    if change.updates and handled.count(Outcome.REVERTED) and handled.baseline_rules is None:
        lines += [
            "",
            "CloudTrail does not record what a modified rule was before, so a reverted",
            "modification is removed, not put back; restore the old rule by hand if it was needed.",
        ]
    lines += [
        "",
        f"CloudTrail event ID  {clean(change.event_id)}",
        f"Mode {handled.mode}{_held(handled)}; dry run {'on: nothing was changed' if handled.dry_run else 'off'}.",
    ]
    return "\n".join(lines) + "\n"


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
        "outcome": item.outcome.value,
        "reason": clean(item.reason),
        "error": clean(item.error) if item.error else None,
    }


def _held(handled: HandledChange) -> str:
    if handled.baseline_rules is None:
        return ""
    return f", held to its baseline of {_rules(handled.baseline_rules)}"


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


def _document(handled: HandledChange, text: str, listed: int) -> dict[str, Any]:
    change, actor = handled.change, handled.change.actor
    return {
        "source": "sg-sentry",
        "summary": handled.summary,
        "subject": _subject(handled),
        "event": {
            "id": clean(change.event_id),
            "name": clean(change.event_name),
            "time": clean(change.event_time),
            "account": clean(change.account or ""),
            "region": clean(change.region),
        },
        "group": {
            "id": handled.group_id,
            "name": clean(handled.group_name, 255) if handled.group_name else None,
            "console_url": console_link(clean(change.region, 32), handled.group_id),
        },
        "actor": actor_document(actor),
        "unreadable": [clean(problem, 300) for problem in handled.change.unreadable[:listed]],
        "mode": handled.mode,
        "dry_run": handled.dry_run,
        "rules": [rule_document(item) for item in handled.rules[:listed]],
        "rules_total": len(handled.rules),
        "unreadable_rules": [unreadable_document(item) for item in handled.unreadable[:listed]],
        "removed": [clean(rule, 200) for rule in handled.change.removed[:listed]],
        "baseline_rules": handled.baseline_rules,
        "text": text,
    }


def _channel(actor: Actor) -> str:
    """How the call was made: a service on someone's behalf, the console, or the API."""
    if actor.invoked_by:
        return f"{clean(actor.invoked_by)}, on the principal's behalf"
    return "the AWS console" if actor.console else "the API"


def problem_report(
    problem: str, region: str, event_id: str | None, change: SecurityGroupChange | None = None
) -> Report:
    """A report for an event the sentry could not evaluate: nothing was reverted, a person must look."""
    what = change.event_name if change else "a security-group change"
    group = (change.group_id or change.group_name) if change else None
    where = f" on {clean(group, 64)}" if group else ""
    lines = [
        f"sg-sentry could not evaluate {what}{where}, so it reverted nothing. Check the group by hand.",
        "",
        f"  Problem      {clean(problem, 1000)}",
        f"  Region       {clean(region, 32)}",
        f"  Event ID     {clean(event_id or 'unknown')}",
    ]
    if change is not None:
        lines += [
            f"  Principal    {clean(change.actor.arn or change.actor.identity_type)}",
            f"  When         {clean(change.event_time)}",
        ]
    if change is not None and change.group_id:
        lines.append(f"  Console      {console_link(clean(region, 32), change.group_id)}")
    text = "\n".join(lines) + "\n"
    document = {
        "source": "sg-sentry",
        "summary": "not-evaluated",
        "problem": clean(problem, 1000),
        "event": {"id": clean(event_id or ""), "name": what, "region": clean(region, 32)},
        "group": {"id": change.group_id if change else None},
        "text": text,
    }
    return Report(subject=subject_line(f"sg-sentry: could not evaluate {what}{where}"), text=text, document=document)


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
        "outcome": item.outcome.value,
        "reason": clean(item.reason),
        "error": clean(item.error) if item.error else None,
        "approved": clean(item.approved, 200) if item.approved is not None else None,
    }


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls (newlines, tabs, escapes); Cf: format characters such
    # as bidi overrides that disguise text; Zl/Zp: Unicode line separators;
    # Zs: odd spaces; Cs: lone surrogates, which cannot even be encoded to
    # send; Co/Cn: private-use and unassigned code points.
    category = unicodedata.category(char)
    return category in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} or (category == "Zs" and char != " ")
