"""What the sentry did: the values the reports and the log are made from.

`HandledChange` is one rule change handled; `SweepResult` is groups judged
again, by the schedule or at once because an event asked for it (a tag
removed, a prefix list changed, an interface given another group, a record
CloudTrail truncated), with the event as its `Trigger`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.events import SecurityGroupChange
from chalicelib.indirect import IndirectChange
from chalicelib.interfaces import InterfaceFix
from chalicelib.rules import Rule, UnreadableRule


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
    # An approved rule not put back while its prefix list reaches past what it held when approved.
    NOT_RESTORED = "not restored"
    # A rule nobody can read, which internet mode cannot judge: a person must look.
    UNREADABLE = "COULD NOT READ"
    # Something only another service may change (an interface a load balancer manages): a person must.
    CANNOT_CHANGE = "cannot change"


class Outcomed(Protocol):
    """Anything the sentry did to one thing (a rule, an interface, a tag): counted by its outcome."""

    @property
    def outcome(self) -> Outcome: ...


FAILURES = (Outcome.FAILED, Outcome.RESTORE_FAILED)
# Outcomes EC2 claimed without naming them in its answer: checked by reading the group afterwards.
CHECKED_AFTERWARDS = (Outcome.REVERTED, Outcome.RESTORED, Outcome.ALREADY_GONE, Outcome.ALREADY_PRESENT)


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
        """What EC2 claims (done, or already so) without naming it: to be checked by reading the group."""
        return self.outcome in CHECKED_AFTERWARDS and not self.shown


@dataclass(frozen=True)
class UnreadableOutcome:
    """What became of a rule nobody could read: revoked by its ID in lockdown mode, else left to a person."""

    rule: UnreadableRule
    outcome: Outcome
    reason: str
    error: str | None = None
    shown: bool = False

    @property
    def unproven(self) -> bool:
        return self.outcome in CHECKED_AFTERWARDS and not self.shown


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
    # Rules nobody could read: revoked by their IDs in lockdown mode, else left to a person.
    unreadable: tuple[UnreadableOutcome, ...] = ()

    @property
    def outcomes(self) -> tuple[RuleOutcome | UnreadableOutcome, ...]:
        return (*self.rules, *self.unreadable)

    @property
    def failures(self) -> tuple[RuleOutcome | UnreadableOutcome, ...]:
        return tuple(item for item in self.outcomes if item.outcome in FAILURES)

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for item in self.outcomes if item.outcome in outcomes)

    @property
    def summary(self) -> str:
        """The overall outcome, in one stable word for logs and subscribers."""
        word = summary_word(self.outcomes)
        if word is not None:
            return word
        if self.change.unreadable:
            return "incomplete"
        return "allowed" if self.count(Outcome.ALLOWED) else "superseded"


def summary_word(rules: Sequence[Outcomed]) -> str | None:
    """The most important thing that happened to these rules, in one stable word; None if nothing did."""
    found = {item.outcome for item in rules}
    for outcomes, word in (
        (FAILURES, "failed"),
        ((Outcome.WOULD_REVERT, Outcome.WOULD_RESTORE), "dry-run"),
        ((Outcome.REVERTED,), "reverted"),
        ((Outcome.RESTORED,), "restored"),
        ((Outcome.NOT_RESTORED,), "not-restored"),
        ((Outcome.ALREADY_GONE,), "already-gone"),
        ((Outcome.ALREADY_PRESENT,), "already-restored"),
        ((Outcome.UNREADABLE, Outcome.CANNOT_CHANGE), "incomplete"),
    ):
        if found.intersection(outcomes):
            return word
    return None


class RevertFailed(RuntimeError):
    """A forbidden rule could not be revoked, or an approved one restored; raised so Lambda retries and alarms."""


class SweepFailed(RuntimeError):
    """The sweep could not put at least one rule right; raised so the invocation counts as an error."""


@dataclass(frozen=True)
class SweptGroup:
    group_id: str
    name: str | None
    rules: tuple[RuleOutcome, ...]
    # How many rules the group's baseline approves; None when it has none.
    baseline_rules: int | None = None
    # Rules of the group nobody could read: revoked by ID in lockdown mode, else left to a person.
    unreadable: tuple[UnreadableOutcome, ...] = ()

    @property
    def outcomes(self) -> tuple[RuleOutcome | UnreadableOutcome, ...]:
        return (*self.rules, *self.unreadable)


@dataclass(frozen=True)
class InterfaceOutcome:
    """What became of an interface that opened a guarded workload through another group."""

    fix: InterfaceFix
    # REVERTED: the groups were taken off; WOULD_REVERT in a dry run; ALREADY_GONE: off already (or the
    # interface gone); CANNOT_CHANGE: a service manages it; FAILED.
    outcome: Outcome
    error: str | None = None


@dataclass(frozen=True)
class TagOutcome:
    """What became of a guard tag someone removed or overwrote on a group."""

    group_id: str
    key: str
    value: str
    # RESTORED, WOULD_RESTORE, ALREADY_PRESENT, RESTORE_FAILED, NOT_RESTORED (no room for it, or nothing
    # shows the group was guarded), ALREADY_GONE (the group was deleted), or ALLOWED (an exempt principal's).
    outcome: Outcome
    reason: str
    error: str | None = None
    # Judged as guarded in this event, whatever its tags now say.
    judged: bool = True


@dataclass(frozen=True)
class Trigger:
    """The event that made the sentry judge groups again at once, and what it did about the event itself."""

    change: IndirectChange
    # What the event did, in words ("deleted tags of sg-0123…"), and why that made the sentry judge at once.
    what: str
    why: str
    tags: tuple[TagOutcome, ...] = ()
    # A person should read the message even if judging found nothing (a guard tag removed, a truncated record).
    always_report: bool = False


@dataclass(frozen=True)
class SweepResult:
    region: str
    time: str
    mode: str
    dry_run: bool
    groups_checked: int
    rules_checked: int
    # Groups where something was (or would be) done, or failed, or could not be read.
    drifted: tuple[SweptGroup, ...] = ()
    # Groups in lockdown mode without a baseline: judged for exposure only (the answer's `groups_not_judged`).
    unjudged: tuple[str, ...] = ()
    # Interfaces that opened a guarded workload through another group.
    interfaces: tuple[InterfaceOutcome, ...] = ()
    # Set when an event, not the schedule, asked for this judgement.
    trigger: Trigger | None = None
    # What could not be checked at all (an AWS read that failed): reported, and the invocation fails.
    problems: tuple[str, ...] = ()

    @property
    def outcomes(self) -> tuple[RuleOutcome | UnreadableOutcome, ...]:
        return tuple(item for group in self.drifted for item in group.outcomes)

    @property
    def failures(self) -> tuple[RuleOutcome | UnreadableOutcome | InterfaceOutcome | TagOutcome, ...]:
        failed_interfaces = tuple(item for item in self.interfaces if item.outcome in FAILURES)
        failed_tags = tuple(t for t in (self.trigger.tags if self.trigger else ()) if t.outcome in FAILURES)
        return (*(item for item in self.outcomes if item.outcome in FAILURES), *failed_interfaces, *failed_tags)

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.problems)

    @property
    def summary(self) -> str:
        if self.problems and not self.failures:
            return "failed"
        every: tuple[RuleOutcome | UnreadableOutcome | InterfaceOutcome | TagOutcome, ...] = (
            *self.outcomes,
            *self.interfaces,
            *(self.trigger.tags if self.trigger else ()),
        )
        return summary_word(every) or ("allowed" if any(item.outcome is Outcome.ALLOWED for item in every) else "clean")

    @property
    def found_something(self) -> bool:
        return bool(self.drifted or self.interfaces)

    @property
    def worth_reporting(self) -> bool:
        """Whether a message goes out: something found, or an event whose handling a person must know of."""
        asked = self.trigger is not None and self.trigger.always_report
        return self.found_something or bool(self.problems) or asked

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in (*self.outcomes, *self.interfaces):
            counts[item.outcome.value] = counts.get(item.outcome.value, 0) + 1
        document = {
            "outcome": self.summary,
            "region": self.region,
            "groups_checked": self.groups_checked,
            "rules_checked": self.rules_checked,
            "groups_drifted": len(self.drifted),
            "groups_not_judged": len(self.unjudged),
            "interfaces_fixed": len(self.interfaces),
            "rules": counts,
        }
        if self.trigger is not None:
            document["event_id"] = self.trigger.change.event_id
        return document
