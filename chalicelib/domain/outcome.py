"""What the sentry did: the values the reports, the log and the Lambda answer are made from.

One result model for one group: `GroupOutcome`, whatever way in found it.
`HandledChange` is one rule change handled (its `change` and its group's
outcome); `SweepResult` is groups judged again, by the schedule or at once
because an event asked for it (a tag removed, a prefix list changed, an
interface given another group, a record CloudTrail truncated), with the
event as its `Trigger`. Both say how they went in one `Summary` word;
`PassedOver` is an event not acted on, with the word its log line said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.domain.change import IndirectChange, SecurityGroupChange
from chalicelib.domain.interfaces import InterfaceFix
from chalicelib.domain.policy import Mode
from chalicelib.domain.rules import Rule, UnreadableRule


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

    @property
    def word(self) -> str:
        """The outcome's one word wherever a machine reads it (the log, the JSON document, the answer's tally).

        The same word as the summary's for the same outcome (`already-gone`, `superseded`); the value is
        the email's wording ("already gone", "changed again since").
        """
        return WORDS[self]


WORDS = {
    Outcome.REVERTED: "reverted",
    Outcome.ALREADY_GONE: "already-gone",
    Outcome.SUPERSEDED: "superseded",
    Outcome.WOULD_REVERT: "would-revert",
    Outcome.ALLOWED: "allowed",
    Outcome.FAILED: "revert-failed",
    Outcome.RESTORED: "restored",
    Outcome.ALREADY_PRESENT: "already-restored",
    Outcome.WOULD_RESTORE: "would-restore",
    Outcome.RESTORE_FAILED: "restore-failed",
    Outcome.NOT_RESTORED: "not-restored",
    Outcome.UNREADABLE: "unreadable",
    Outcome.CANNOT_CHANGE: "cannot-change",
}


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
    # Proven: EC2's own answer named this change as done (no read is needed), or the check's read showed it.
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


class Summary(StrEnum):
    """How an invocation went, in one stable word: the log's `outcome`, the answer's, the document's `summary`."""

    # Something was done, or would be, or failed: the most important first (`summary_word`).
    FAILED = "failed"
    DRY_RUN = "dry-run"
    REVERTED = "reverted"
    RESTORED = "restored"
    NOT_RESTORED = "not-restored"
    ALREADY_GONE = "already-gone"
    ALREADY_RESTORED = "already-restored"
    INCOMPLETE = "incomplete"
    # Nothing needed doing.
    ALLOWED = "allowed"
    SUPERSEDED = "superseded"
    CLEAN = "clean"
    # Nothing was judged, and why.
    NOTHING_TO_DO = "nothing-to-do"
    NOT_GUARDED = "not-guarded"
    NOTHING_GUARDED = "nothing-guarded"
    OWN_CHANGE = "own-change"
    OUT_OF_SCOPE = "out-of-scope"
    NOT_UNDERSTOOD = "not-understood"
    CONFIG_ERROR = "config-error"
    RETRY = "retry"
    # What became of the message.
    NOTIFIED = "notified"
    NOTIFICATION_FAILED = "notification-failed"


# The outcomes that make each summary word, the most important first.
SUMMARY_ORDER = (
    (FAILURES, Summary.FAILED),
    ((Outcome.WOULD_REVERT, Outcome.WOULD_RESTORE), Summary.DRY_RUN),
    ((Outcome.REVERTED,), Summary.REVERTED),
    ((Outcome.RESTORED,), Summary.RESTORED),
    ((Outcome.NOT_RESTORED,), Summary.NOT_RESTORED),
    ((Outcome.ALREADY_GONE,), Summary.ALREADY_GONE),
    ((Outcome.ALREADY_PRESENT,), Summary.ALREADY_RESTORED),
    ((Outcome.UNREADABLE, Outcome.CANNOT_CHANGE), Summary.INCOMPLETE),
)


def summary_word(items: Sequence[Outcomed]) -> Summary | None:
    """The most important thing that happened to these, in one stable word; None if nothing did."""
    found = {item.outcome for item in items}
    for outcomes, word in SUMMARY_ORDER:
        if found.intersection(outcomes):
            return word
    return None


def tally(items: Iterable[Outcomed]) -> dict[str, int]:
    """How many of each outcome, by its word, in the order of `Outcome`: for the log and the Lambda answer."""
    counts = Counter(item.outcome for item in items)
    return {outcome.word: counts[outcome] for outcome in Outcome if counts[outcome]}


@dataclass(frozen=True)
class GroupOutcome:
    """What became of one group's rules: from an event, from the sweep, or from an event's check."""

    group_id: str
    name: str | None
    mode: Mode
    dry_run: bool
    rules: tuple[RuleOutcome, ...] = ()
    # How many rules the group's baseline approves; None when it has none (or the mode holds none).
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


@dataclass(frozen=True)
class HandledChange:
    """One rule change handled: the change as CloudTrail recorded it, and what became of its group."""

    change: SecurityGroupChange
    group: GroupOutcome
    # The account acted in, when the deployment guards more than its own (None: a single account's).
    account: str | None = None
    # When the check after the revokes proved what was done (None in a dry run): the exposure window's end.
    confirmed: datetime | None = None

    @property
    def failures(self) -> tuple[RuleOutcome | UnreadableOutcome, ...]:
        return self.group.failures

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    @property
    def incomplete(self) -> bool:
        """Part of the record, or a rule, could not be read: a person must look."""
        return bool(self.change.unreadable or self.group.count(Outcome.UNREADABLE))

    @property
    def summary(self) -> Summary:
        word = summary_word(self.group.outcomes)
        if word is not None:
            return word
        if self.change.unreadable:
            return Summary.INCOMPLETE
        return Summary.ALLOWED if self.group.count(Outcome.ALLOWED) else Summary.SUPERSEDED

    def as_dict(self) -> dict[str, Any]:
        """The Lambda answer: a short summary."""
        document = {
            "outcome": self.summary,
            "event_id": self.change.event_id,
            "group_id": self.group.group_id,
            "rules": tally(self.group.outcomes),
        }
        return document | ({"account": self.account} if self.account else {})


@dataclass(frozen=True)
class PassedOver:
    """An event the sentry did not act on, in the word and the message its log line said (the Lambda answer)."""

    summary: Summary
    reason: str
    event_id: str | None = None
    group_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"outcome": self.summary, "reason": self.reason}
        return document | {
            key: value for key, value in (("event_id", self.event_id), ("group_id", self.group_id)) if value
        }


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
    """Groups (and interfaces) judged as they are now: by the schedule, or at once for an event (`trigger`)."""

    region: str
    time: str
    mode: Mode
    dry_run: bool
    groups_checked: int
    rules_checked: int
    # Groups where something was (or would be) done, or failed, or could not be read.
    drifted: tuple[GroupOutcome, ...] = ()
    # Groups in lockdown mode without a baseline: judged for exposure only (the answer's `groups_not_judged`).
    unjudged: tuple[str, ...] = ()
    # Interfaces that opened a guarded workload through another group.
    interfaces: tuple[InterfaceOutcome, ...] = ()
    # Set when an event, not the schedule, asked for this judgement.
    trigger: Trigger | None = None
    # What could not be checked at all (an AWS read that failed): reported, and the invocation fails.
    problems: tuple[str, ...] = ()
    # The account judged, when the deployment guards more than its own (None: a single account's).
    account: str | None = None

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
    def summary(self) -> Summary:
        if self.problems and not self.failures:
            return Summary.FAILED
        every: tuple[RuleOutcome | UnreadableOutcome | InterfaceOutcome | TagOutcome, ...] = (
            *self.outcomes,
            *self.interfaces,
            *(self.trigger.tags if self.trigger else ()),
        )
        allowed = any(item.outcome is Outcome.ALLOWED for item in every)
        return summary_word(every) or (Summary.ALLOWED if allowed else Summary.CLEAN)

    @property
    def found_something(self) -> bool:
        return bool(self.drifted or self.interfaces)

    @property
    def worth_reporting(self) -> bool:
        """Whether a message goes out: something found, or an event whose handling a person must know of."""
        asked = self.trigger is not None and self.trigger.always_report
        return self.found_something or bool(self.problems) or asked

    def as_dict(self) -> dict[str, Any]:
        """The Lambda answer: a short summary."""
        document = {
            "outcome": self.summary,
            "region": self.region,
            "groups_checked": self.groups_checked,
            "rules_checked": self.rules_checked,
            "groups_drifted": len(self.drifted),
            "groups_not_judged": len(self.unjudged),
            "interfaces_fixed": len(self.interfaces),
            "rules": tally((*self.outcomes, *self.interfaces)),
        }
        if self.trigger is not None:
            document["event_id"] = self.trigger.change.event_id
        if self.account is not None:
            document["account"] = self.account
        return document
