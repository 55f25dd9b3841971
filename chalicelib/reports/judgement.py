"""The message about groups judged again: by the sweep, or at once because an event asked for it.

Built from the same parts as the event report (`parts`, `text`, `fit`),
but about many groups. A sweep has no actor (it sees rules, not who
made them); a judgement an event asked for (a guard tag removed, a prefix
list changed, an interface given another group, a truncated record) says
who made that event's call, and what was done about the call itself.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.accounts import AccountLabel
from chalicelib.domain.change import TAG_EVENTS, Indirect
from chalicelib.domain.outcome import GroupOutcome, InterfaceOutcome, SweepResult, TagOutcome, Trigger
from chalicelib.domain.policy import Mode
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
    plural,
    subject_line,
    taken_off,
    tally_words,
)

# (groups listed, rules listed per group), tried in turn until the message fits in SNS.
LISTED_LIMITS = ((50, 40), (20, 15), (10, 5), (3, 3))
NO_EXEMPTIONS = "Exemptions (SENTRY_EXEMPT_PRINCIPALS) do not apply: a sweep sees rules, not who made them."


def build_sweep_report(result: SweepResult, account: AccountLabel | None = None) -> Report:
    """The report, listing as many groups and rules as fit in one SNS message; `account` when more are guarded."""
    subject = _subject(result, account)

    def listing(limits: tuple[int, int]) -> Report:
        groups_listed, rules_listed = limits
        text = _text(result, groups_listed, rules_listed, account)
        return Report(subject, text, _document(result, text, groups_listed, rules_listed, account))

    return fitted(listing, LISTED_LIMITS)


def _kind(trigger: Trigger | None) -> str:
    return "sweep" if trigger is None else "event"


def _tally(result: SweepResult, limit: int) -> str:
    """What was done, most important first: guard tags, rules, interfaces."""
    parts = [
        "could not check" if result.problems else "",
        tally_words(result.trigger.tags if result.trigger else (), limit, "guard tag"),
        tally_words(result.outcomes, limit),
        tally_words(result.interfaces, limit, "interface"),
    ]
    said = ", ".join(part for part in parts if part) or "nothing to put right"
    if result.trigger is not None and result.unjudged:
        # A person reading "nothing to put right" must know the judgement was not the whole one.
        said += " (exposure only: no baseline)"
    return said


def _subject(result: SweepResult, account: AccountLabel | None = None) -> str:
    tally = _tally(result, 2)
    region = f"{clean(account.account, 12)}/{clean(result.region, 32)}" if account else result.region
    change = result.trigger.change if result.trigger else None
    if change is not None and change.kind is Indirect.TRUNCATED and change.event_name in TAG_EVENTS:
        # Which groups lost their guard tag is not known: that, not "nothing to put right", is the news.
        tally = f"could not tell which groups lost the guard tag; {tally}"
    if result.trigger is None:
        tag = "sg-sentry sweep [dry run]" if result.dry_run else "sg-sentry sweep"
        where = f" on {plural(len(result.drifted), 'group')}" if result.drifted else ""
        return subject_line(f"{tag}: {tally}{where} in {region}")
    tag = "sg-sentry [dry run]" if result.dry_run else "sg-sentry"
    cut = "a truncated " if result.trigger.change.truncated else ""
    return subject_line(f"{tag}: {tally} after {cut}{result.trigger.change.event_name} in {region}")


def _text(result: SweepResult, groups_listed: int, rules_listed: int, account: AccountLabel | None) -> str:
    lines = _opening(result, _tally(result, 9), account)
    if result.trigger and result.trigger.tags:
        lines += ["", "Guard tags"]
        for number, tag in enumerate(result.trigger.tags, start=1):
            lines += _tag_lines(number, tag)
    for group in result.drifted[:groups_listed]:
        lines += ["", *_group_lines(group, result.region, rules_listed)]
    if len(result.drifted) > groups_listed:
        lines += ["", f"... and {len(result.drifted) - groups_listed} more groups (see the JSON document or the log)."]
    if result.interfaces:
        lines += ["", "Interfaces that opened a guarded workload through another group"]
        for number, item in enumerate(result.interfaces[:groups_listed], start=1):
            lines += _interface_lines(number, item)
    if result.problems:
        lines += ["", "Could not check (the invocation fails, and the next sweep tries again)"]
        lines += [f"  {clean(problem, 1000)}" for problem in result.problems]
    if result.unjudged:
        shown = ", ".join(result.unjudged[:20]) + (" ..." if len(result.unjudged) > 20 else "")
        lines += [
            "",
            f"Judged for exposure only: {len(result.unjudged)} group(s) in lockdown mode have no baseline, so the",
            "sentry cannot tell approved rules from drift; it "
            + ("would revert" if result.dry_run else "reverted")
            + " only what opens them to the internet",
            f"(run `sentry snapshot` to hold them to their rules): {shown}",
        ]
    held = "; groups with a baseline are held to exactly it" if result.mode is Mode.LOCKDOWN else ""
    lines += ["", f"Mode {result.mode}{held}; dry run {dry_run_words(result.dry_run)}."]
    return "\n".join(lines) + "\n"


def _opening(result: SweepResult, tally: str, account: AccountLabel | None) -> list[str]:
    checked = f"{plural(result.groups_checked, 'guarded group')} ({plural(result.rules_checked, 'rule')})" + (
        f" and {plural(len(result.interfaces), 'interface')} to put right" if result.interfaces else ""
    )
    if result.trigger is None:
        return [
            f"The sweep of {_where(result, account)} at {clean(result.time)} checked {checked} "
            f"and found drift on {len(result.drifted):,}: {tally}.",
            "",
            NO_EXEMPTIONS,
        ]
    change = result.trigger.change
    header = change.header
    return [
        f"{clean(change.actor.name, 128)} {clean(result.trigger.what, 300)} ({clean(change.event_name)}). "
        f"{result.trigger.why}: {checked}; {tally}.",
        "",
        "What changed",
        f"  Account      {clean(str(account or header.account or 'unknown'), 80)}",
        f"  Region       {clean(header.region)}",
        f"  When         {clean(header.event_time)}",
        f"  Event ID     {clean(header.event_id)}",
        "",
        *who_lines(change.actor),
    ]


def _where(result: SweepResult, account: AccountLabel | None) -> str:
    region = clean(result.region, 32)
    return f"account {clean(str(account), 80)} in {region}" if account else region


def _tag_lines(number: int, tag: TagOutcome) -> list[str]:
    detail = f"     {tag.outcome.value.upper()}: {clean(tag.reason)}"
    if tag.error:
        detail += f" (AWS error: {clean(tag.error)})"
    return [f"  {number}. {clean(tag.group_id, 32)}: tag {clean(tag.key, 128)}={clean(tag.value, 256)}", detail]


def _interface_lines(number: int, item: InterfaceOutcome) -> list[str]:
    fix = item.fix
    removed = ", ".join(opening.group_id for opening in fix.remove)
    detail = (
        f"     {item.outcome.value.upper()}: {taken_off(item.outcome.word, removed)}; it keeps {', '.join(fix.keep)}"
    )
    if item.error:
        detail += f" (AWS error: {clean(item.error)})"
    return [f"  {number}. {clean(fix.reason, 600)}", detail]


def _group_lines(group: GroupOutcome, region: str, rules_listed: int) -> list[str]:
    name = f" ({clean(group.name, 64)})" if group.name else ""
    held = "" if group.baseline_rules is None else f", baseline of {plural(group.baseline_rules, 'rule')}"
    lines = [
        f"Group {group.group_id}{name}: {tally_words(group.outcomes, limit=9)}{held}",
        f"  Console      {console_link(clean(region, 32), group.group_id)}",
    ]
    for number, item in enumerate(group.rules[:rules_listed], start=1):
        lines += rule_lines(number, item)
    if len(group.rules) > rules_listed:
        lines.append(f"  ... and {len(group.rules) - rules_listed} more rules.")
    for number, unreadable in enumerate(group.unreadable[:rules_listed], start=len(group.rules[:rules_listed]) + 1):
        lines += unreadable_lines(number, unreadable)
    return lines


def _document(
    result: SweepResult, text: str, groups_listed: int, rules_listed: int, account: AccountLabel | None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "source": "sg-sentry",
        "kind": _kind(result.trigger),
        "summary": result.summary,
        "subject": _subject(result, account),
        **({"account": account.account, "account_name": account.name} if account else {}),
        "region": result.region,
        "time": result.time,
        "mode": result.mode,
        "dry_run": result.dry_run,
        "groups_checked": result.groups_checked,
        "rules_checked": result.rules_checked,
        "groups_total": len(result.drifted),
        "groups": [
            {
                "id": group.group_id,
                "name": clean(group.name, 255) if group.name else None,
                "console_url": console_link(clean(result.region, 32), group.group_id),
                "baseline_rules": group.baseline_rules,
                "rules": [rule_document(item) for item in group.rules[:rules_listed]],
                "rules_total": len(group.rules),
                "unreadable": [unreadable_document(item) for item in group.unreadable[:rules_listed]],
            }
            for group in result.drifted[:groups_listed]
        ],
        "interfaces": [
            {
                "interface_id": item.fix.interface.interface_id,
                "instance_id": item.fix.interface.instance_id,
                "guarded": list(item.fix.guarded),
                "removed": [opening.group_id for opening in item.fix.remove],
                "kept": list(item.fix.keep),
                "reason": clean(item.fix.reason, 600),
                "outcome": item.outcome.word,
                "error": clean(item.error) if item.error else None,
            }
            for item in result.interfaces[:groups_listed]
        ],
        "not_judged": list(result.unjudged[:200]),
        "problems": [clean(problem, 1000) for problem in result.problems],
        "text": text,
    }
    if result.trigger is not None:
        change = result.trigger.change
        document["event"] = {
            "id": clean(change.event_id),
            "name": clean(change.event_name),
            "time": clean(change.header.event_time),
            "account": clean(change.header.account or ""),
            "region": clean(change.region),
            "what": clean(result.trigger.what, 300),
        }
        document["actor"] = actor_document(change.actor)
        document["tags"] = [
            {"group_id": t.group_id, "key": clean(t.key, 128), "value": clean(t.value), "outcome": t.outcome.word}
            for t in result.trigger.tags
        ]
    return document
