"""Break-glass: a time-boxed exception that lets one rule stay on one group until it expires.

An incident needs SSH from one address for two hours: `sentry allow`
records an `Allowance` (the group, the exact rule, when it expires, who
granted it, when and why) in the baseline's store, and only there. Nothing
an actor can set on the group itself (a tag, a rule's description) grants
anything: those are the actor's to write, the store is not.

While it is valid the rule is allowed, by the event path and the sweep
alike, in either mode; once it has expired the rule is judged as any other,
and the sweep revokes it and says which exception expired. Whether it is
valid is a pure question of `now`, which the caller passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.ids import GROUP_ID, REGION
from chalicelib.domain.rules import Direction, Rule, rule_from_text

# The longest an exception may last. Break-glass is for an incident, which is hours, at most days: a need
# that outlasts a week belongs in the reviewed baseline (`sentry snapshot`, a commit) or the policy
# (SENTRY_OPEN_PORTS, SENTRY_TRUSTED_CIDRS), and the bound limits what a forgotten exception leaves open.
MAX_SPAN = timedelta(days=7)


class AllowanceError(ValueError):
    """An exception that cannot be granted or read; the message says why."""


@dataclass(frozen=True)
class Allowance:
    """One rule allowed on one group from `granted_at` until `expires`."""

    allowance_id: str
    group_id: str
    region: str
    rule: Rule
    expires: datetime
    granted_at: datetime
    # The caller's ARN as STS named it (GetCallerIdentity): an assumed role's session, a user.
    granted_by: str
    reason: str

    def __post_init__(self) -> None:
        if not GROUP_ID.fullmatch(self.group_id):
            raise AllowanceError(f"{self.group_id!r} is not a security group ID")
        if not REGION.fullmatch(self.region):
            raise AllowanceError(f"{self.region!r} is not an AWS region")
        if self.rule.direction is Direction.UNKNOWN:
            raise AllowanceError("an exception names an ingress or an egress rule")
        if not self.reason.strip():
            raise AllowanceError("an exception needs a reason (an incident or ticket, say): --reason")
        if not self.granted_by:
            raise AllowanceError("an exception needs who granted it")
        for moment in (self.expires, self.granted_at):
            if moment.tzinfo is None:
                raise AllowanceError("an exception's times carry their time zone")
        span = self.expires - self.granted_at
        if span <= timedelta(0):
            raise AllowanceError("an exception must last some time: --for must be more than zero")
        if span > MAX_SPAN:
            raise AllowanceError(f"an exception lasts at most {_span_words(MAX_SPAN)} (asked: {_span_words(span)})")

    def valid_at(self, now: datetime) -> bool:
        return now < self.expires

    @property
    def label(self) -> str:
        """How reports name it: its reason first (``INC-42``), then its ID."""
        return f"{self.reason} ({self.allowance_id})"

    def allowed_words(self) -> str:
        return (
            f"allowed by exception {self.label} until {moment_text(self.expires)}, "
            f"granted by {self.granted_by} at {moment_text(self.granted_at)}"
        )

    def expired_words(self) -> str:
        return f"exception {self.label} expired at {moment_text(self.expires)} (granted by {self.granted_by})"


@dataclass(frozen=True)
class Granted:
    """What the exceptions say of one group at one moment: the rules allowed now, and those whose time is up."""

    valid: Mapping[Rule, Allowance] = field(default_factory=dict)
    expired: Mapping[Rule, Allowance] = field(default_factory=dict)
    # Why none is known, when the store could not be read: the plan says so, and applies none.
    problem: str | None = None

    def __bool__(self) -> bool:
        return bool(self.valid or self.expired)


NOTHING_GRANTED = Granted()


def granted_on(allowances: Iterable[Allowance], group_id: str, region: str, now: datetime) -> Granted:
    """The exceptions of `group_id` in `region` as they stand at `now`.

    Exactly that rule on exactly that group: the rule compares as AWS
    compares rules (protocol, ports, source, direction; not the
    description). A rule with a valid exception and an expired one is valid.
    """
    valid: dict[Rule, Allowance] = {}
    expired: dict[Rule, Allowance] = {}
    for allowance in allowances:
        if allowance.group_id != group_id or allowance.region != region:
            continue
        if allowance.valid_at(now):
            if allowance.rule not in valid or valid[allowance.rule].expires < allowance.expires:
                valid[allowance.rule] = allowance
        elif allowance.rule not in expired or expired[allowance.rule].expires < allowance.expires:
            expired[allowance.rule] = allowance
    return Granted(valid, {rule: a for rule, a in expired.items() if rule not in valid})


def moment_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span_words(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 else f"{hours:g} hours"


# --- the document, in the baseline file and the table -------------------------------


def allowance_document(allowance: Allowance) -> dict[str, Any]:
    """The exception as JSON; its rule in the reports' own words, read back by `rules.rule_from_text`."""
    return {
        "id": allowance.allowance_id,
        "group_id": allowance.group_id,
        "region": allowance.region,
        "rule": str(allowance.rule),
        "expires": allowance.expires.astimezone(UTC).isoformat(timespec="seconds"),
        "granted_at": allowance.granted_at.astimezone(UTC).isoformat(timespec="seconds"),
        "granted_by": allowance.granted_by,
        "reason": allowance.reason,
    }


def allowance_from_document(document: Any) -> Allowance:
    """Raises `AllowanceError` naming what is wrong."""
    if not isinstance(document, Mapping):
        raise AllowanceError("an exception must be an object")
    where = f"exception {str(document.get('id'))[:40]!r}"
    try:
        return Allowance(
            allowance_id=_text(document, "id"),
            group_id=_text(document, "group_id"),
            region=_text(document, "region"),
            rule=rule_from_text(_text(document, "rule")),
            expires=_moment(document, "expires"),
            granted_at=_moment(document, "granted_at"),
            granted_by=_text(document, "granted_by"),
            reason=_text(document, "reason"),
        )
    except ValueError as error:
        raise AllowanceError(f"{where}: {error}") from None


def _text(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise AllowanceError(f"{key!r} must be non-empty text")
    return value


def _moment(document: Mapping[str, Any], key: str) -> datetime:
    moment = datetime.fromisoformat(_text(document, key))
    if moment.tzinfo is None:
        raise AllowanceError(f"{key!r} must carry its time zone")
    return moment
