"""What `replay` and `sweep` print by default: each result in words, as its message would say it.

A result's mark: ✓ done (or judged, nothing to put right), – not acted on
(the word the log said, and why), ✗ failed or not understood. Under it, the
message's text and what became of the message, from the decision log.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.accounts import AccountLabel
from chalicelib.domain.outcome import HandledChange, PassedOver, Summary, SweepResult
from chalicelib.reports import build_report
from chalicelib.reports.text import plural

# Words of an answer that mean it was not handled as it should be: the command exits 1.
FAILED_WORDS = frozenset({Summary.FAILED, Summary.NOT_UNDERSTOOD, Summary.CONFIG_ERROR})
# Words of an event the handler did not act on: neither done nor failed.
PASSED_WORDS = frozenset(
    {Summary.NOTHING_TO_DO, Summary.NOT_GUARDED, Summary.NOTHING_GUARDED, Summary.OWN_CHANGE, Summary.OUT_OF_SCOPE}
)
# The log's words for what became of the message.
MESSAGE_WORDS = frozenset({Summary.NOTIFIED, Summary.NOTIFICATION_FAILED})


def mark_of(word: str, failed: bool = False) -> str:
    return "✗" if failed or word in FAILED_WORDS else "–" if word in PASSED_WORDS else "✓"


def indented(headline: str, lines: tuple[str, ...]) -> str:
    """A headline and the lines under it, indented (blank lines left blank)."""
    return "\n".join([headline, *(f"  {line}".rstrip() for line in lines)])


def in_words(result: HandledChange | SweepResult | PassedOver) -> tuple[str, str, tuple[str, ...]]:
    """(mark, headline, the lines under it): the message's subject and text, or the word and why."""
    if isinstance(result, PassedOver):
        return mark_of(result.summary), f"{result.summary}: {result.reason}", ()
    mark = mark_of(result.summary, result.failed)
    if isinstance(result, SweepResult) and not result.worth_reporting:
        judged = plural(result.groups_checked, "guarded group")
        return mark, f"{result.summary}: {judged} judged, nothing to put right", ()
    report = build_report(result, AccountLabel(result.account, None) if result.account else None)
    return mark, report.subject, tuple(report.text.splitlines())


def decision_lines(log: str) -> list[dict[str, Any]]:
    """The decision log's JSON lines in `log` (Lambda's own lines, START and REPORT, are not)."""
    found = []
    for text in log.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and "outcome" in line:
            found.append(line)
    return found


def messages(log: str) -> tuple[str, ...]:
    """What the log says became of the message (notified TOPIC, or why not)."""
    return tuple(str(line["message"]) for line in decision_lines(log) if line.get("outcome") in MESSAGE_WORDS)
