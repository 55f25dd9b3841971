"""The one message of a sweep round over several accounts and regions: each place's own report, gathered."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.sweep_round import PlaceFindings, RoundResult
from chalicelib.reports.fit import Report, fitted
from chalicelib.reports.text import clean, plural, subject_line

# Places whose report is given whole, tried in turn until the message fits in SNS; the rest by subject only.
WHOLE_LIMITS = (1000, 50, 10, 0)


def build_round_report(result: RoundResult) -> Report:
    reported = result.reported
    failed = [place for place in reported if place.failed]
    tag = "sg-sentry sweep [dry run]" if result.dry_run else "sg-sentry sweep"
    what = f"FAILED in {plural(len(failed), 'account-region')}, " if failed else ""
    found = f"{what}found something in {len(reported)} of {plural(len(result.places), 'account-region')}"
    subject = subject_line(f"{tag}: {found}")

    def listing(whole: int) -> Report:
        lines = [
            f"The sweep round {clean(result.round_id, 80)} covered {plural(len(result.places), 'account-region')} "
            f"and {found.replace('FAILED', 'failed')}.",
            "",
        ]
        lines += [f"  {clean(p.label, 120)}: {clean(p.subject or p.problem or p.summary, 300)}" for p in reported]
        for place in reported[:whole]:
            lines += ["", f"== {clean(place.label, 120)} ==", "", *_body(place)]
        if len(reported) > whole:
            lines += ["", f"... the reports of {len(reported) - whole} more places are in the sentry's log."]
        text = "\n".join(lines) + "\n"
        return Report(subject, text, _document(result, text))

    return fitted(listing, WHOLE_LIMITS)


def _body(place: PlaceFindings) -> list[str]:
    if place.problem and not place.text:
        return [f"Could not sweep it: {clean(place.problem, 1000)}"]
    return place.text.splitlines()  # the place's own report, each of its fields cleaned when it was written


def _document(result: RoundResult, text: str) -> dict[str, Any]:
    return {
        "source": "sg-sentry",
        "kind": "sweep-round",
        "summary": result.summary,
        "round": result.round_id,
        "dry_run": result.dry_run,
        "places": [
            {"place": str(p.place), "label": p.label, "summary": p.summary, "subject": p.subject, "problem": p.problem}
            for p in result.places
        ],
        "text": text,
    }
