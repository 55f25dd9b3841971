"""What the sentry counts for CloudWatch, and how long a forbidden rule stayed open: pure numbers from the results.

The numbers come from the result model (`outcome.py`), the same values the
reports and the log are made of; the Embedded Metric Format that carries
them in the log lines is the log adapter's (`adapters/log.py`). Counts are
of things (rules, interfaces, guard tags, records), not of invocations:
one call that opens three ports and is reverted counts Reverted 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.outcome import FAILURES, HandledChange, Outcome, Outcomed, SweepResult


class Metric(StrEnum):
    """The metrics' names, as CloudWatch shows them."""

    REVERTED = "Reverted"
    RESTORED = "Restored"
    FAILED = "Failed"
    ALLOWED = "Allowed"
    NOT_UNDERSTOOD = "NotUnderstood"
    # Seconds from the change's CloudTrail eventTime to the moment its revert was confirmed.
    EXPOSURE = "ExposureSeconds"


# The outcomes each count is made of; every line that carries metrics carries all of these, zero included.
COUNTED: Mapping[Metric, tuple[Outcome, ...]] = {
    Metric.REVERTED: (Outcome.REVERTED,),
    Metric.RESTORED: (Outcome.RESTORED,),
    Metric.FAILED: FAILURES,
    Metric.ALLOWED: (Outcome.ALLOWED,),
    # A rule nobody can read, left to a person (internet mode cannot judge it).
    Metric.NOT_UNDERSTOOD: (Outcome.UNREADABLE,),
}


@dataclass(frozen=True)
class Measures:
    """The numbers of one log line: every count, and the exposure window when a revert was confirmed."""

    counts: Mapping[Metric, int] = field(default_factory=dict)
    exposure: float | None = None

    def values(self) -> dict[str, float]:
        """Metric name -> value, counts first, the exposure only when there is one."""
        values: dict[str, float] = {metric.value: self.counts.get(metric, 0) for metric in COUNTED}
        if self.exposure is not None:
            values[Metric.EXPOSURE.value] = self.exposure
        return values


def counted(items: Iterable[Outcomed], failed: int = 0, not_understood: int = 0) -> dict[Metric, int]:
    """Each count over these outcomes, plus failures and unreadable parts known otherwise."""
    found = [item.outcome for item in items]
    counts = {metric: sum(1 for outcome in found if outcome in outcomes) for metric, outcomes in COUNTED.items()}
    counts[Metric.FAILED] += failed
    counts[Metric.NOT_UNDERSTOOD] += not_understood
    return counts


def change_measures(handled: HandledChange) -> Measures:
    """One rule change handled: its group's outcomes, the parts of its record nobody could read, its window."""
    return Measures(counted(handled.group.outcomes, not_understood=len(handled.change.unreadable)), exposure(handled))


def judgement_measures(result: SweepResult) -> Measures:
    """Groups judged again (the sweep, or an event's check): every outcome, and each check that could not be made.

    No exposure window: the sweep does not know when what it found was opened.
    """
    tags = result.trigger.tags if result.trigger else ()
    return Measures(counted((*result.outcomes, *result.interfaces, *tags), failed=len(result.problems)))


# An event the sentry could not read at all (nothing was judged), and a check that could not be made.
NOT_UNDERSTOOD = Measures(counted((), not_understood=1))
COULD_NOT_EVALUATE = Measures(counted((), failed=1))


def exposure(handled: HandledChange) -> float | None:
    """Seconds the change stayed open: from its eventTime to the revert confirmed; None when nothing was reverted."""
    proven = any(item.outcome is Outcome.REVERTED and not item.unproven for item in handled.group.outcomes)
    if handled.confirmed is None or not proven:
        return None  # a dry run, nothing reverted, or a revert the check could not prove (its read failed)
    return seconds_between(handled.change.event_time, handled.confirmed)


def seconds_between(event_time: str | None, confirmed: datetime) -> float | None:
    """Seconds from a CloudTrail eventTime to `confirmed`; None when the time is missing, unreadable or later."""
    try:
        start = datetime.fromisoformat(event_time or "")
    except ValueError:
        return None
    if start.tzinfo is None or confirmed.tzinfo is None:
        return None  # CloudTrail writes UTC with a Z; a time without a zone says nothing certain
    seconds = (confirmed - start).total_seconds()
    return round(seconds, 3) if seconds >= 0 else None
