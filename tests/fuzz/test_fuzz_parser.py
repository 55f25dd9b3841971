"""Property: every record, however odd, is either read or refused with EventNotUnderstood/EventOutOfScope,
and whatever is read can be reported: an SNS-safe subject and valid JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.cloudtrail.indirect import parse_change
from chalicelib.cloudtrail.records import EventNotUnderstood, EventOutOfScope
from chalicelib.domain.change import IndirectChange
from chalicelib.domain.outcome import (
    GroupOutcome,
    HandledChange,
    Outcome,
    RuleOutcome,
    SweepResult,
    TagOutcome,
    Trigger,
)
from chalicelib.domain.policy import Mode
from chalicelib.reports import build_report
from chalicelib.reports.judgement import build_sweep_report
from chalicelib.reports.text import SUBJECT_LIMIT
from tests.conftest import EVENTS, load_event
from tests.fuzz.strategies import FUZZ, GENERATED, at_least, mutated, records

READ: Counter[str] = Counter()
# Inputs each property below was given: this file's own count, not one shared with the other properties.
TRIED: Counter[str] = Counter()
GROUPS = st.sampled_from(["sg-0a1b2c3d4e5f60718", "sg-01234567", "sg-zzz", ""])
FIXTURES = sorted(path.name for path in Path(EVENTS).glob("*.json"))


def read_and_report(raw: Any, kind: str) -> None:
    TRIED[kind] += 1
    try:
        change = parse_change(raw)
    except (EventNotUnderstood, EventOutOfScope):
        return
    READ[kind] += 1
    if isinstance(change, IndirectChange):
        READ[f"{kind}: ways around a rule change"] += 1
        tags = tuple(TagOutcome(g, "sg-sentry", "guard", Outcome.RESTORED, "why") for g in change.group_ids)
        trigger = Trigger(change, "did something", "why", tags, always_report=True)
        result = SweepResult(change.region, "2026-11-23T09:00:00+00:00", Mode.INTERNET, False, 1, 1, trigger=trigger)
        report = build_sweep_report(result)
    else:
        outcomes = [
            RuleOutcome(rule, outcome, "why", "Error: x") for rule, outcome in zip(change.added, Outcome, strict=False)
        ]
        report = build_report(
            HandledChange(
                change,
                GroupOutcome(change.group_id or "sg-0", change.group_name, Mode.LOCKDOWN, False, tuple(outcomes)),
            )
        )
    assert 0 < len(report.subject) <= SUBJECT_LIMIT and report.subject.isascii() and report.subject.isprintable()
    message = json.loads(report.sns_message())
    assert json.loads(message["default"]) == report.document
    assert all(line.isprintable() for line in report.text.splitlines())


@FUZZ
@given(records(GROUPS))
def test_generated_records_are_read_or_refused(raw: Any) -> None:
    GENERATED["parser: generated records"] += 1
    read_and_report(raw, "generated")


@FUZZ
@given(st.sampled_from(FIXTURES).flatmap(lambda name: mutated(load_event(name))))
def test_mutated_real_shapes_are_read_or_refused(raw: Any) -> None:
    GENERATED["parser: mutated records"] += 1
    read_and_report(raw, "mutated")


@pytest.mark.parametrize(("kind", "share"), [("generated", 100), ("mutated", 5)])
def test_the_fuzzing_reached_past_the_parser(kind: str, share: int) -> None:
    # Not vacuous: inputs were read and reported, not only refused (field-by-field records rarely
    # come out whole, so 1 in 100 of them; broken fixtures, 1 in 5).
    tried = TRIED[kind]
    if not tried:
        pytest.skip(f"runs after the property that tries {kind} records, in the same session")
    assert READ[kind] >= at_least(1 / share, tried), (tried, READ)
    # ... and the calls around a rule change (tags, prefix lists, interfaces, truncated records) among them.
    assert READ[f"{kind}: ways around a rule change"] >= at_least(1 / (share * 4), tried), (tried, READ)
