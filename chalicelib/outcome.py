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


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    outcome: Outcome
    # Why the rule was judged so, in plain words.
    reason: str
    # AWS's error when the revert failed.
    error: str | None = None


@dataclass(frozen=True)
class HandledChange:
    change: SecurityGroupChange
    group_id: str
    group_name: str | None
    mode: str
    dry_run: bool
    rules: tuple[RuleOutcome, ...]

    @property
    def failures(self) -> tuple[RuleOutcome, ...]:
        return tuple(item for item in self.rules if item.outcome is Outcome.FAILED)

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for item in self.rules if item.outcome in outcomes)

    @property
    def summary(self) -> str:
        """The overall outcome, in one stable word for logs and subscribers."""
        for outcome, word in (
            (Outcome.FAILED, "failed"),
            (Outcome.WOULD_REVERT, "dry-run"),
            (Outcome.REVERTED, "reverted"),
            (Outcome.ALREADY_GONE, "already-gone"),
        ):
            if self.count(outcome):
                return word
        if self.change.unreadable:
            return "incomplete"
        return "allowed" if self.count(Outcome.ALLOWED) else "superseded"
