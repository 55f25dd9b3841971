"""The sweep's one message: every group it put right, in plain words and as JSON.

Built like the event report (same rule lines, same cleaning, same SNS size
limit), but about many groups and with no actor: a sweep sees rules, not
who made them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.report import (
    SNS_MESSAGE_LIMIT,
    Report,
    clean,
    console_link,
    plural,
    rule_document,
    rule_lines,
    subject_line,
    tally_words,
)

if TYPE_CHECKING:
    from chalicelib.sweep import SweepResult, SweptGroup

# (groups listed, rules listed per group), tried in turn until the message fits in SNS.
LISTED_LIMITS = ((50, 40), (20, 15), (10, 5), (3, 3))
NO_EXEMPTIONS = "Exemptions (SENTRY_EXEMPT_PRINCIPALS) do not apply: a sweep sees rules, not who made them."


def build_sweep_report(result: SweepResult) -> Report:
    for groups_listed, rules_listed in LISTED_LIMITS:
        text = _text(result, groups_listed, rules_listed)
        report = Report(_subject(result), text, _document(result, text, groups_listed, rules_listed))
        if len(report.sns_message().encode()) <= SNS_MESSAGE_LIMIT:
            break
    return report


def sweep_problem_report(problem: str, region: str) -> Report:
    text = (
        "The sg-sentry sweep could not read the guarded groups, so it checked nothing. "
        "Events are still handled as they come.\n\n"
        f"  Problem      {clean(problem, 1000)}\n"
        f"  Region       {clean(region, 32)}\n"
    )
    document = {"source": "sg-sentry", "kind": "sweep", "summary": "not-evaluated", "problem": clean(problem, 1000)}
    return Report(
        subject_line(f"sg-sentry sweep: could not read the groups in {region}"), text, document | {"text": text}
    )


def _subject(result: SweepResult) -> str:
    tag = "sg-sentry sweep [dry run]" if result.dry_run else "sg-sentry sweep"
    where = plural(len(result.drifted), "group")
    return subject_line(f"{tag}: {tally_words(result.outcomes)} on {where} in {result.region}")


def _text(result: SweepResult, groups_listed: int, rules_listed: int) -> str:
    tally = tally_words(result.outcomes, limit=9)
    lines = [
        f"The sweep of {clean(result.region, 32)} at {clean(result.time)} checked "
        f"{plural(result.groups_checked, 'guarded group')} ({plural(result.rules_checked, 'rule')}) "
        f"and found drift on {len(result.drifted):,}: {tally}.",
        "",
        NO_EXEMPTIONS,
    ]
    for group in result.drifted[:groups_listed]:
        lines += ["", *_group_lines(group, result.region, rules_listed)]
    if len(result.drifted) > groups_listed:
        lines += ["", f"... and {len(result.drifted) - groups_listed} more groups (see the JSON document or the log)."]
    if result.unjudged:
        shown = ", ".join(result.unjudged[:20]) + (" ..." if len(result.unjudged) > 20 else "")
        lines += [
            "",
            f"Not judged: {len(result.unjudged)} group(s) in lockdown mode have no baseline, so the sweep cannot",
            f"tell approved rules from drift (run `sentry snapshot`): {shown}",
        ]
    held = "; groups with a baseline are held to exactly it" if result.mode == "lockdown" else ""
    lines += ["", f"Mode {result.mode}{held}; dry run {'on: nothing was changed' if result.dry_run else 'off'}."]
    return "\n".join(lines) + "\n"


def _group_lines(group: SweptGroup, region: str, rules_listed: int) -> list[str]:
    name = f" ({clean(group.name, 64)})" if group.name else ""
    held = "" if group.baseline_rules is None else f", baseline of {plural(group.baseline_rules, 'rule')}"
    lines = [
        f"Group {group.group_id}{name}: {tally_words(group.rules, limit=9)}{held}",
        f"  Console      {console_link(clean(region, 32), group.group_id)}",
    ]
    for number, item in enumerate(group.rules[:rules_listed], start=1):
        lines += rule_lines(number, item)
    if len(group.rules) > rules_listed:
        lines.append(f"  ... and {len(group.rules) - rules_listed} more rules.")
    return lines


def _document(result: SweepResult, text: str, groups_listed: int, rules_listed: int) -> dict[str, Any]:
    return {
        "source": "sg-sentry",
        "kind": "sweep",
        "summary": result.summary,
        "subject": _subject(result),
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
            }
            for group in result.drifted[:groups_listed]
        ],
        "not_judged": list(result.unjudged[:200]),
        "text": text,
    }
