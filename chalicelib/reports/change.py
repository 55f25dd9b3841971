"""The report of one rule change handled: an email in plain words and a JSON document."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.accounts import AccountLabel
from chalicelib.domain.metrics import exposure
from chalicelib.domain.outcome import HandledChange, Outcome
from chalicelib.reports.fit import Report, fitted
from chalicelib.reports.parts import (
    actor_document,
    rule_document,
    rule_lines,
    unreadable_document,
    unreadable_lines,
    who_lines,
)
from chalicelib.reports.text import (
    clean,
    console_link,
    dry_run_words,
    duration_words,
    plural,
    subject_line,
    tally_words,
)

LISTED_RULES_LIMITS = (100, 40, 15, 5)


def build_change_report(handled: HandledChange, account: AccountLabel | None = None) -> Report:
    """The report, listing as many rules as fit in one SNS message; `account` when more than one is guarded."""
    subject = _subject(handled, account)

    def listing(listed: int) -> Report:
        text = _text(handled, listed, account)
        return Report(subject=subject, text=text, document=_document(handled, text, listed, account))

    return fitted(listing, LISTED_RULES_LIMITS)


def _group_label(handled: HandledChange) -> str:
    name = f" ({clean(handled.group.name, 64)})" if handled.group.name else ""
    return f"{clean(handled.group.group_id, 32)}{name}"


def _subject(handled: HandledChange, account: AccountLabel | None = None) -> str:
    tag = "sg-sentry [dry run]" if handled.group.dry_run else "sg-sentry"
    what = tally_words(handled.group.outcomes) or "nothing to revert, rules changed again since"
    if handled.change.unreadable:
        what = f"could not read {_parts(len(handled.change.unreadable))}, {what}"
    where = f" in {clean(account.account, 12)}" if account else ""
    return subject_line(f"{tag}: {what} on {_group_label(handled)}{where}")


def _rules(count: int) -> str:
    return plural(count, "rule")


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
    tally = ", ".join(f"{count} {outcome.value}" for outcome in Outcome if (count := handled.group.count(outcome)))
    return (
        f"{clean(change.actor.name, 128)} {what} security group "
        f"{_group_label(handled)} with {clean(change.event_name)}. Outcome: {tally}."
    )


def _text(handled: HandledChange, listed: int, account: AccountLabel | None) -> str:
    change, actor = handled.change, handled.change.actor
    lines = [_headline(handled), ""]
    lines += [
        "What changed",
        f"  Account      {clean(str(account or change.account or 'unknown'), 80)}",
        f"  Region       {clean(change.region)}",
        f"  Group        {_group_label(handled)}",
        f"  When         {clean(change.event_time)}",
        *_exposure_lines(handled),
        f"  Console      {console_link(clean(change.region, 32), handled.group.group_id)}",
        "",
        *who_lines(actor),
        "",
        "Rules",
    ]
    for number, item in enumerate(handled.group.rules[:listed], start=1):
        lines += rule_lines(number, item)
    hidden = len(handled.group.rules) - listed
    if hidden > 0:
        lines.append(f"  ... and {hidden} more rules (see the JSON document or the log).")
    first = min(len(handled.group.rules), listed) + 1
    for number, unreadable in enumerate(handled.group.unreadable[:listed], start=first):
        lines += unreadable_lines(number, unreadable)
    if change.removed:
        lines += ["", "Removed by this change, as CloudTrail recorded it"]
        lines += [f"  - {clean(rule, 200)}" for rule in change.removed[:listed]]
    if change.unreadable:
        lines += ["", "Could not read (check the group by hand; nothing was done about these)"]
        lines += [f"  COULD NOT READ: {clean(problem, 300)}" for problem in change.unreadable[:listed]]
        if len(change.unreadable) > listed:
            lines.append(f"  ... and {len(change.unreadable) - listed} more unreadable parts.")
    if change.updates and handled.group.count(Outcome.REVERTED) and handled.group.baseline_rules is None:
        lines += [
            "",
            "CloudTrail does not record what a modified rule was before, so a reverted",
            "modification is removed, not put back; restore the old rule by hand if it was needed.",
        ]
    lines += [
        "",
        f"CloudTrail event ID  {clean(change.event_id)}",
        f"Mode {handled.group.mode}{_held(handled)}; dry run {dry_run_words(handled.group.dry_run)}.",
    ]
    return "\n".join(lines) + "\n"


def _exposure_lines(handled: HandledChange) -> list[str]:
    """How long the change stayed open, where a revert was confirmed (never in a dry run)."""
    seconds = exposure(handled)
    if seconds is None:
        return []
    return [f"  Exposure     open for {duration_words(seconds)}, from the change until the revert was confirmed"]


def _held(handled: HandledChange) -> str:
    if handled.group.baseline_rules is None:
        return ""
    return f", held to its baseline of {_rules(handled.group.baseline_rules)}"


def _document(handled: HandledChange, text: str, listed: int, account: AccountLabel | None) -> dict[str, Any]:
    change, actor = handled.change, handled.change.actor
    return {
        "source": "sg-sentry",
        "summary": handled.summary,
        "subject": _subject(handled, account),
        "event": {
            "id": clean(change.event_id),
            "name": clean(change.event_name),
            "time": clean(change.event_time),
            "account": clean(change.account or ""),
            **({"account_name": clean(account.name, 80)} if account and account.name else {}),
            "region": clean(change.region),
        },
        "group": {
            "id": handled.group.group_id,
            "name": clean(handled.group.name, 255) if handled.group.name else None,
            "console_url": console_link(clean(change.region, 32), handled.group.group_id),
        },
        "actor": actor_document(actor),
        "unreadable": [clean(problem, 300) for problem in handled.change.unreadable[:listed]],
        "mode": handled.group.mode,
        "dry_run": handled.group.dry_run,
        "rules": [rule_document(item) for item in handled.group.rules[:listed]],
        "rules_total": len(handled.group.rules),
        "unreadable_rules": [unreadable_document(item) for item in handled.group.unreadable[:listed]],
        "removed": [clean(rule, 200) for rule in handled.change.removed[:listed]],
        "baseline_rules": handled.group.baseline_rules,
        # Seconds from the change's eventTime to the revert confirmed; null when nothing was reverted.
        "exposure_seconds": exposure(handled),
        "text": text,
    }
