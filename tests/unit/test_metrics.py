"""The numbers behind the metrics and the exposure window, from the result model alone (no AWS, no clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.metrics import Metric, change_measures, exposure, seconds_between
from chalicelib.domain.outcome import Outcome, RuleOutcome
from chalicelib.reports import build_report
from chalicelib.reports.change import duration_words
from tests.unit.test_report import HTTPS, SSH, handled

# The fixture's eventTime (authorize_ingress_nested_ruleset.json).
OPENED = datetime(2026, 10, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event_time", "seconds"),
    [
        ("2026-10-02T08:30:00Z", 14.25),
        ("2026-10-02T08:30:14.250Z", 0.0),
        ("2026-10-02T08:31:00Z", None),  # later than the revert: a clock is wrong, and no window is said
        ("unknown", None),  # what the parser keeps when the record has no time
        ("", None),
        (None, None),
        ("2026-10-02T08:30:00", None),  # no zone: nothing certain
    ],
    ids=["14s", "0s", "future", "unknown", "empty", "missing", "naive"],
)
def test_the_window_is_from_the_event_time_to_the_confirmation_and_never_negative(
    event_time: str | None, seconds: float | None
) -> None:
    assert seconds_between(event_time, OPENED + timedelta(seconds=14.25)) == seconds


def test_only_a_confirmed_revert_has_a_window_and_the_report_says_it_only_then() -> None:
    reverted = replace(
        handled(
            RuleOutcome(SSH, Outcome.REVERTED, "lockdown", shown=True),  # proven: by EC2's answer or the check's read
            RuleOutcome(HTTPS, Outcome.ALLOWED, "internal"),
        ),
        confirmed=OPENED + timedelta(seconds=200.4),
    )
    assert exposure(reverted) == 200.4
    report = build_report(reverted)
    assert "  Exposure     open for 3 min 20 s, from the change until the revert was confirmed" in report.text
    assert report.document["exposure_seconds"] == 200.4
    measures = change_measures(reverted)
    assert measures.values() == {
        Metric.REVERTED: 1,
        Metric.RESTORED: 0,
        Metric.FAILED: 0,
        Metric.ALLOWED: 1,
        Metric.NOT_UNDERSTOOD: 0,
        Metric.EXPOSURE: 200.4,
    }
    # Nothing reverted (a dry run's "would revert", a failure), a revert the check could not prove (its read
    # failed), or no confirmation: no window at all.
    for outcome in (Outcome.WOULD_REVERT, Outcome.FAILED, Outcome.REVERTED):  # this REVERTED unproven
        other = replace(reverted, group=replace(reverted.group, rules=(RuleOutcome(SSH, outcome, "lockdown"),)))
        assert exposure(other) is None and "open for" not in build_report(other).text
    unconfirmed = replace(reverted, confirmed=None)
    assert exposure(unconfirmed) is None and build_report(unconfirmed).document["exposure_seconds"] is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.4, "under 1 s"), (14.4, "14 s"), (200, "3 min 20 s"), (180, "3 min"), (7500, "2 h 5 min"), (90061, "1 d 1 h")],
)
def test_a_duration_in_its_two_largest_units(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words
