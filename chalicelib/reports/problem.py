"""The report of something the sentry could not evaluate: nothing was judged, a person must look.

One shape for every way in: a headline that says what was not done, the
facts (problem, region, event, who), and a document marked
``not-evaluated``. An event the sentry could not read, a group it could not
look up, groups a sweep (or an event's check) could not read: each only
chooses its words.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.accounts import AccountLabel
from chalicelib.domain.change import SecurityGroupChange
from chalicelib.domain.outcome import Trigger
from chalicelib.reports.fit import Report
from chalicelib.reports.text import clean, console_link, subject_line


def problem_report(
    problem: str,
    region: str,
    event_id: str | None,
    change: SecurityGroupChange | None = None,
    account: AccountLabel | str | None = None,
) -> Report:
    """An event the sentry could not evaluate (unreadable, its account not entered, its group not looked up)."""
    what = change.event_name if change else "a security-group change"
    group = (change.group_id or change.group_name) if change else None
    where = f" on {clean(group, 64)}" if group else ""
    where += f" in account {clean(str(account), 80)}" if account else ""
    facts = [("Account", clean(str(account), 80))] if account else []
    facts.append(("Event ID", clean(event_id or "unknown")))
    if change is not None:
        facts += [
            ("Principal", clean(change.actor.arn or change.actor.identity_type)),
            ("When", clean(change.event_time)),
        ]
    if change is not None and change.group_id:
        facts.append(("Console", console_link(clean(region, 32), change.group_id)))
    details = {
        "event": {
            "id": clean(event_id or ""),
            "name": what,
            "region": clean(region, 32),
            "account": str(account) if account else None,
        },
        "group": {"id": change.group_id if change else None},
    }
    return _not_evaluated(
        headline=f"sg-sentry could not evaluate {what}{where}, so it reverted nothing. Check the group by hand.",
        subject=f"sg-sentry: could not evaluate {what}{where}",
        problem=problem,
        region=region,
        facts=facts,
        details=details,
    )


def sweep_problem_report(
    problem: str, region: str, trigger: Trigger | None = None, account: AccountLabel | str | None = None
) -> Report:
    """Groups the sweep (or an event's check) could not read, or their account not entered: nothing was checked."""
    what = f"what {trigger.change.event_name} changed" if trigger else "the guarded groups"
    who = "The sg-sentry check of an event" if trigger else "The sg-sentry sweep"
    subject = (
        f"sg-sentry: could not check {trigger.change.event_name}"
        if trigger
        else "sg-sentry sweep: could not read the groups"
    )
    facts = [("Account", clean(str(account), 80))] if account else []
    facts += [("Event ID", clean(trigger.change.event_id))] if trigger else []
    return _not_evaluated(
        headline=f"{who} could not read {what}, so it checked nothing. Events are still handled as they come.",
        subject=f"{subject} in {f'{clean(str(account), 80)} ' if account else ''}{region}",
        problem=problem,
        region=region,
        facts=facts,
        kind="sweep" if trigger is None else "event",
        details={"account": str(account) if account else None} if account else None,
    )


def _not_evaluated(
    headline: str,
    subject: str,
    problem: str,
    region: str,
    facts: list[tuple[str, str]],
    kind: str | None = None,
    details: dict[str, Any] | None = None,
) -> Report:
    lines = [headline, "", *_facts([("Problem", clean(problem, 1000)), ("Region", clean(region, 32)), *facts])]
    text = "\n".join(lines) + "\n"
    document: dict[str, Any] = {"source": "sg-sentry"} | ({"kind": kind} if kind else {})
    document |= {"summary": "not-evaluated", "problem": clean(problem, 1000), **(details or {}), "text": text}
    return Report(subject=subject_line(subject), text=text, document=document)


def _facts(facts: list[tuple[str, str]]) -> list[str]:
    return [f"  {label:<12} {value}" for label, value in facts]
