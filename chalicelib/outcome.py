"""What the sentry did about one change: the values the report and the log are made from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.events import SecurityGroupChange
from chalicelib.rules import Rule


class Outcome(StrEnum):
    REVERTED = "reverted"
    # The rule was not there when the sentry came to revoke it: a duplicate
    # delivery, or someone was faster.
    ALREADY_GONE = "already gone"
    # A modified rule that has been changed again since: the later change
    # has its own event and is judged there.
    SUPERSEDED = "changed again since"
    WOULD_REVERT = "would revert (dry run)"
    ALLOWED = "allowed"
    FAILED = "FAILED to revert"
    # An approved rule (from the baseline) put back, or redefined back in place.
    RESTORED = "restored"
    # Someone, or a concurrent sweep, put it back first.
    ALREADY_PRESENT = "already back"
    WOULD_RESTORE = "would restore (dry run)"
    RESTORE_FAILED = "FAILED to restore"


FAILURES = (Outcome.FAILED, Outcome.RESTORE_FAILED)


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    outcome: Outcome
    # Why the rule was judged so, in plain words.
    reason: str
    # AWS's error when the revert failed.
    error: str | None = None
    # A rule redefined back in place: the approved definition it was given.
    approved: Rule | None = None
    # EC2's own answer named this change as done: no read is needed to prove it.
    shown: bool = False

    @property
    def unproven(self) -> bool:
        """A change EC2 claims to have made without naming it: to be checked by reading the group."""
        return self.outcome in (Outcome.REVERTED, Outcome.RESTORED) and not self.shown


@dataclass(frozen=True)
class HandledChange:
    change: SecurityGroupChange
    group_id: str
    group_name: str | None
    mode: str
    dry_run: bool
    rules: tuple[RuleOutcome, ...]
    # How many rules the group's baseline approves; None when it has none.
    baseline_rules: int | None = None

    @property
    def failures(self) -> tuple[RuleOutcome, ...]:
        return tuple(item for item in self.rules if item.outcome in FAILURES)

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for item in self.rules if item.outcome in outcomes)

    @property
    def summary(self) -> str:
        """The overall outcome, in one stable word for logs and subscribers."""
        word = summary_word(self.rules)
        if word is not None:
            return word
        if self.change.unreadable:
            return "incomplete"
        return "allowed" if self.count(Outcome.ALLOWED) else "superseded"


def summary_word(rules: tuple[RuleOutcome, ...]) -> str | None:
    """The most important thing that happened to these rules, in one stable word; None if nothing did."""
    found = {item.outcome for item in rules}
    for outcomes, word in (
        (FAILURES, "failed"),
        ((Outcome.WOULD_REVERT, Outcome.WOULD_RESTORE), "dry-run"),
        ((Outcome.REVERTED,), "reverted"),
        ((Outcome.RESTORED,), "restored"),
        ((Outcome.ALREADY_GONE,), "already-gone"),
        ((Outcome.ALREADY_PRESENT,), "already-restored"),
    ):
        if found.intersection(outcomes):
            return word
    return None
