"""Break-glass: a time-boxed exception that lets one rule stay on one group until it expires.

An incident needs SSH from one address for two hours: `sentry allow`
records an `Allowance` (the group, the exact rule, when it expires, who
granted it, when and why) in the baseline's store, and only there. Nothing
an actor can set on the group itself (a tag, a rule's description) grants
anything: those are the actor's to write, the store is not.

While it is valid the rule is allowed, by the event path and the sweep
alike, in either mode; once it has ended (expired, or revoked: `--revoke`
sets its expiry to the moment, and keeps the record) the sweep revokes the
rule, in any mode, and says which exception ended. A revoked one is never
valid again, whatever its dates. Whether it is valid is a
pure question of `now`, which the caller passes in.

An exception names addresses that cannot change under it: one naming a
prefix list (whose entries anyone with EC2 rights can widen after the
grant) grants nothing, nor one dated in the future; `void_reason` says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.ids import GROUP_ID, REGION
from chalicelib.domain.rules import Direction, Rule, SourceKind, rule_from_text

# The longest an exception may last. Break-glass is for an incident, which is hours, at most days: a need
# that outlasts a week belongs in the reviewed baseline (`sentry snapshot`, a commit) or the policy
# (SENTRY_OPEN_PORTS, SENTRY_TRUSTED_CIDRS), and the bound limits what a forgotten exception leaves open.
MAX_SPAN = timedelta(days=7)
# How far ahead of the sentry's clock a grant may be dated (the granter's clock may run fast): an exception
# dated later than that grants nothing, else a stored `granted_at` in 2099 would make the 7-day bound moot.
CLOCK_SKEW = timedelta(minutes=5)
# How long after its end an exception's rule is still the sweep's to revoke (and left out of a snapshot): a week of
# sweeps, every 15 minutes, to take it off. Longer ago, the record is history (`--list`), and a rule equal to its
# rule is judged as any other, so that the same rule can be approved in the baseline again one day.
ENDED_WATCH = timedelta(days=7)
PREFIX_LIST_REFUSED = "an exception names addresses: a prefix list's entries can change after the grant; name the CIDR"


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
    # Who ended it before its time (`sentry allow --revoke`), their ARN; `expires` is then when.
    revoked_by: str | None = None

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
        # A revoke may end it in the second it was granted (the store keeps whole seconds).
        if span < timedelta(0) or (span == timedelta(0) and self.revoked_by is None):
            raise AllowanceError("an exception must last some time: --for must be more than zero")
        if span > MAX_SPAN:
            raise AllowanceError(f"an exception lasts at most {_span_words(MAX_SPAN)} (asked: {_span_words(span)})")

    def void_reason(self, now: datetime) -> str | None:
        """Why this exception grants nothing whatever its expiry (a record written by hand, say), or None."""
        if self.rule.source.kind is SourceKind.PREFIX_LIST:
            return "it names a prefix list, whose entries can change after the grant"
        if self.granted_at > now + CLOCK_SKEW:
            return f"it is dated {moment_text(self.granted_at)}, in the future"
        return None

    def valid_at(self, now: datetime) -> bool:
        """Granted (not dated later than `now` and `CLOCK_SKEW`), not yet ended, not revoked, and not void.

        A revoked one is never valid, though its expiry (the revoke's moment,
        or its grant's when that is a little ahead within the skew) be later.
        """
        return self.revoked_by is None and now < self.expires and self.void_reason(now) is None

    def ended(self, now: datetime, by: str) -> Allowance:
        """This exception, ended at `now` by `by` (an ARN); raises AllowanceError when it has ended already."""
        if self.revoked_by is not None or now >= self.expires:
            raise AllowanceError(f"exception {self.label} {self._end_words()}: nothing to revoke")
        # Whole seconds, as the store keeps them: what is written is what is read back.
        return replace(self, expires=max(now.replace(microsecond=0), self.granted_at), revoked_by=by)

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
        return f"exception {self.label} {self._end_words()} (granted by {self.granted_by})"

    def void_words(self, why: str) -> str:
        return f"exception {self.label} grants nothing: {why}"

    def _end_words(self) -> str:
        if self.revoked_by is not None:
            return f"was revoked at {moment_text(self.expires)} by {self.revoked_by}"
        return f"expired at {moment_text(self.expires)}"


@dataclass(frozen=True)
class Granted:
    """What the exceptions say of one group at one moment: the rules allowed now, those whose time is up."""

    valid: Mapping[Rule, Allowance] = field(default_factory=dict)
    # Ended: expired, or revoked (`--revoke`).
    expired: Mapping[Rule, Allowance] = field(default_factory=dict)
    # Named by an exception that grants nothing (`Allowance.void_reason`): why, for the report.
    void: Mapping[Rule, str] = field(default_factory=dict)
    # Why none is known, when the store could not be read: the plan says so, and applies none.
    problem: str | None = None

    def __bool__(self) -> bool:
        return bool(self.valid or self.expired or self.void)

    def noted(self, rule: Rule, reason: str) -> str:
        """A revoke's reason, saying so when an exception names the rule but grants nothing."""
        void = self.void.get(rule)
        return reason if void is None else f"{reason}; {void}"


NOTHING_GRANTED = Granted()


def granted_on(allowances: Iterable[Allowance], group_id: str, region: str, now: datetime) -> Granted:
    """The exceptions of `group_id` in `region` as they stand at `now`.

    Exactly that rule on exactly that group: the rule compares as AWS
    compares rules (protocol, ports, source, direction; not the
    description). A rule with a valid exception and an ended one is valid;
    one that only a void exception names is judged as any other.
    """
    valid: dict[Rule, Allowance] = {}
    expired: dict[Rule, Allowance] = {}
    void: dict[Rule, str] = {}
    for allowance in allowances:
        if allowance.group_id != group_id or allowance.region != region:
            continue
        why = allowance.void_reason(now)
        if why is not None:
            void.setdefault(allowance.rule, allowance.void_words(why))
        elif allowance.valid_at(now):
            if allowance.rule not in valid or valid[allowance.rule].expires < allowance.expires:
                valid[allowance.rule] = allowance
        elif now - allowance.expires > ENDED_WATCH:
            continue  # ended long ago: history only
        elif allowance.rule not in expired or expired[allowance.rule].expires < allowance.expires:
            expired[allowance.rule] = allowance
    expired = {rule: a for rule, a in expired.items() if rule not in valid}
    void = {rule: why for rule, why in void.items() if rule not in valid and rule not in expired}
    return Granted(valid, expired, void)


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
    } | ({} if allowance.revoked_by is None else {"revoked_by": allowance.revoked_by})


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
            revoked_by=_text(document, "revoked_by") if "revoked_by" in document else None,
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
