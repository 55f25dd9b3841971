"""Property: whatever a group holds and whatever its baseline approves, carrying out the plan leaves exactly
the approved rules, touches no approved rule, and keeps a redefined rule's ID, direction and kind of source.
When the group's prefix list has been widened past what it held when approved, its approved rules are the
exception: revoked if present, held back (not restored) if missing, and nothing else changes.

The plan is applied here by a model of EC2 written for this test (revoke by definition, redefine by ID,
authorize), not by chalicelib, so a wrong plan cannot be hidden by a matching mistake in the applier.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.drift import Fix, Step, back_to_baseline
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind
from tests.fuzz.strategies import EXAMPLES, FUZZ, GENERATED

SEEN: Counter[Fix] = Counter()
SOURCES = st.sampled_from(
    [
        Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"),
        Source(SourceKind.CIDR_IPV4, "10.0.0.0/8"),
        Source(SourceKind.CIDR_IPV4, "10.0.0.1/8"),  # the same network as 10.0.0.0/8, written otherwise
        Source(SourceKind.CIDR_IPV6, "::/0"),
        Source(SourceKind.CIDR_IPV6, "2001:DB8::/32"),
        Source(SourceKind.PREFIX_LIST, "pl-12345678"),
        Source(SourceKind.SECURITY_GROUP, "sg-0a1b2c3d4e5f60718", "111122223333"),
    ]
)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from(["tcp", "udp", "-1", "icmp"]))
    port = draw(st.sampled_from([22, 443, 3389]))
    low, high = (port, port) if protocol in ("tcp", "udp") else (None, None)
    return Rule.build(
        draw(st.sampled_from([Direction.INGRESS, Direction.EGRESS])),
        protocol,
        low,
        high,
        draw(SOURCES),
        draw(st.sampled_from([None, "approved", "edited"])),
    )


def with_ids(found: list[Rule], ids: list[str | None]) -> list[Rule]:
    """Rules as a group holds them: no two equal, each with its own ID (or none, as a baseline may have)."""
    unique = list(dict.fromkeys(found))
    return [
        Rule(r.direction, r.protocol, r.from_port, r.to_port, r.source, r.description, i)
        for r, i in zip(unique, ids, strict=False)  # more IDs than rules: the rest go unused
    ]


RULE_IDS = st.lists(st.sampled_from([f"sgr-{n}" for n in range(12)] + [None]), min_size=12, max_size=12)


def apply(present: list[Rule], steps: tuple[Step, ...]) -> list[Rule]:
    """A model of EC2 carrying out the steps."""
    state = list(present)
    for step in steps:
        if step.fix is Fix.REVOKE:
            # By definition: only a rule that still has it goes.
            assert step.rule in state, f"revokes {step.rule}, which the group does not hold"
            state = [rule for rule in state if rule != step.rule]
        elif step.fix is Fix.HOLD_BACK:
            assert step.rule not in state, f"holds back {step.rule}, which the group holds"
        elif step.fix is Fix.REDEFINE:
            assert step.approved is not None
            (index,) = [i for i, rule in enumerate(state) if rule.rule_id == step.rule.rule_id]
            before = state[index]
            assert (before.direction, before.source.kind) == (step.approved.direction, step.approved.source.kind)
            state[index] = Rule(
                step.approved.direction,
                step.approved.protocol,
                step.approved.from_port,
                step.approved.to_port,
                step.approved.source,
                step.approved.description,
                before.rule_id,
            )
        else:
            assert step.rule not in state, f"restores {step.rule}, which the group still holds"
            state.append(step.rule)
    return state


LISTED = SourceKind.PREFIX_LIST


@FUZZ
@given(st.lists(rules(), max_size=8), RULE_IDS, st.lists(rules(), max_size=8), RULE_IDS, st.booleans())
def test_carrying_out_the_plan_leaves_exactly_the_approved_rules(
    present_rules: list[Rule],
    present_ids: list[str | None],
    approved_rules: list[Rule],
    approved_ids: Any,
    widened: bool,
) -> None:
    GENERATED["drift: groups planned back to a baseline"] += 1
    # A group's rule IDs are unique; the baseline's are whatever they were when it was taken.
    present = with_ids(present_rules, list(dict.fromkeys(present_ids)) + [None] * 12)
    present = [rule for rule in present if rule.rule_id] or present[:0]
    approved = with_ids(approved_rules, approved_ids)

    def unapproved(rule: Rule) -> str | None:
        return "the list reaches further" if widened and rule.source.kind is LISTED else None

    steps = back_to_baseline(present, approved, unapproved)

    SEEN.update(step.fix for step in steps)
    after = apply(present, steps)
    withheld = {rule for rule in approved if unapproved(rule)}
    assert set(after) == set(approved) - withheld and len(after) == len(set(after))
    assert not [s for s in steps if s.fix is Fix.REVOKE and s.rule in set(approved) - withheld]
    assert {s.rule for s in steps if s.fix is Fix.HOLD_BACK} == withheld - set(present)
    # Nothing is done twice, and a group already in line needs nothing.
    assert len(steps) == len({(s.fix, s.rule, s.rule.rule_id) for s in steps})
    if set(present) == set(approved) and not withheld:
        assert steps == ()


def test_the_drift_property_was_not_vacuous() -> None:
    if GENERATED["drift: groups planned back to a baseline"] < EXAMPLES:
        test_carrying_out_the_plan_leaves_exactly_the_approved_rules()
    assert SEEN[Fix.REVOKE] and SEEN[Fix.RESTORE] and SEEN[Fix.REDEFINE] and SEEN[Fix.HOLD_BACK], SEEN
