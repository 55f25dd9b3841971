"""`sentry allow`: grant, list and revoke time-boxed exceptions (break-glass) in the baseline's store.

An exception is written only here, with the operator's credentials, to the
store the sentry reads its baseline from: the file (a deploy makes it
effective, as for `sentry snapshot`) or the table (effective at once). Its
granter is the caller as STS names them. Everything is checked before
anything is written: bad input changes nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from chalicelib.adapters import baseline_file
from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.domain.accounts import Place
from chalicelib.domain.allowances import MAX_SPAN, Allowance, AllowanceError, moment_text
from chalicelib.domain.ids import GROUP_ID
from chalicelib.domain.policy import GroupScope
from chalicelib.domain.rules import Rule, rule_from_text

_DURATION = re.compile(r"(?:(?P<days>\d+)d)?(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?")
DURATION_HELP = "a duration such as 2h, 30m, 1d or 1h30m, at most 7 days"


class Store(Protocol):
    """Where the stage keeps its baseline, and so its exceptions."""

    @property
    def where(self) -> str:
        """The store, in words."""
        ...

    @property
    def effective(self) -> str:
        """What makes a change take effect."""
        ...

    def allowances(self) -> tuple[Allowance, ...]: ...

    def guards_by_entry(self, group_id: str) -> bool: ...

    def add(self, allowance: Allowance) -> None: ...

    def remove(self, allowance: Allowance) -> None: ...


@dataclass
class FileStore:
    """The baseline file: the deployment's own account, every region it names."""

    path: Path
    region: str
    stage: str

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def effective(self) -> str:
        return f"the deployed sentry applies it once you commit the file and chalice deploy --stage {self.stage}"

    def allowances(self) -> tuple[Allowance, ...]:
        return baseline_file.load(self.path).allowances

    def guards_by_entry(self, group_id: str) -> bool:
        return baseline_file.load(self.path).for_group(group_id, self.region) is not None

    def add(self, allowance: Allowance) -> None:
        baseline = baseline_file.load(self.path)
        baseline_file.save(baseline.with_allowances((*baseline.allowances, allowance)), self.path)

    def remove(self, allowance: Allowance) -> None:
        baseline = baseline_file.load(self.path)
        kept = [a for a in baseline.allowances if a.allowance_id != allowance.allowance_id]
        baseline_file.save(baseline.with_allowances(kept), self.path)


@dataclass
class TableStore:
    """The stage's table: one account and region (a place) at a time."""

    table: BaselineTable
    place: Place

    @property
    def where(self) -> str:
        return f"table {self.table.table}, {self.place}"

    @property
    def effective(self) -> str:
        return "the sentry applies it from its next event or sweep: no deploy needed"

    def allowances(self) -> tuple[Allowance, ...]:
        return self.table.region(self.place.account, self.place.region).allowances

    def guards_by_entry(self, group_id: str) -> bool:
        return self.table.group(self.place.account, self.place.region, group_id) is not None

    def add(self, allowance: Allowance) -> None:
        self.table.grant(self.place, allowance)

    def remove(self, allowance: Allowance) -> None:
        self.table.remove(self.place, allowance)


def duration(text: str | None) -> timedelta:
    """--for: ``2h``, ``30m``, ``1d``, ``1h30m``; more than zero, at most `MAX_SPAN`. Raises ValueError."""
    if text is None or not text.strip():
        raise ValueError(f"--for is needed: how long the exception lasts ({DURATION_HELP})")
    cleaned = text.strip().lower()
    matched = _DURATION.fullmatch(cleaned)
    if cleaned.startswith("-") or (matched is not None and not any(matched.groupdict().values())):
        raise ValueError(f"--for {text!r}: an exception must last more than zero ({DURATION_HELP})")
    if matched is None:
        raise ValueError(f"--for {text!r}: write {DURATION_HELP}")
    parts = {unit: int(value or 0) for unit, value in matched.groupdict().items()}
    span = timedelta(**parts)
    if span <= timedelta(0):
        raise ValueError(f"--for {text!r}: an exception must last more than zero ({DURATION_HELP})")
    if span > MAX_SPAN:
        raise ValueError(
            f"--for {text!r}: an exception lasts at most 7 days; a need that outlasts an incident belongs in the "
            "baseline (sentry snapshot) or the policy (SENTRY_OPEN_PORTS, SENTRY_TRUSTED_CIDRS)"
        )
    return span


@dataclass(frozen=True)
class Asked:
    """What the flags ask for, checked before any AWS call (`asked`)."""

    group_id: str
    rule: Rule
    span: timedelta
    reason: str


def asked(group_id: str | None, rule_text: str | None, lasting: str | None, reason: str | None) -> Asked:
    """The flags, read and checked; raises ValueError saying what is wrong, before anything is read or written."""
    if not group_id or not GROUP_ID.fullmatch(group_id):
        raise ValueError(f"--group {group_id!r} is not a security group ID (sg-...)")
    if not rule_text:
        raise ValueError(
            '--rule is needed: the exact rule to allow, as the reports write it ("tcp 22 from 203.0.113.4/32")'
        )
    rule = rule_from_text(rule_text)
    span = duration(lasting)
    if not reason or not reason.strip():
        raise ValueError("--reason is needed: the incident or ticket the exception is for (INC-42, say)")
    return Asked(group_id, rule, span, " ".join(reason.split()))


def grant(
    store: Store,
    ec2: SecurityGroups,
    scope: GroupScope,
    region: str,
    wanted: Asked,
    granted_by: str,
    now: datetime,
) -> Allowance:
    """Record the exception asked for, if the group exists here and is guarded. Raises ValueError."""
    group_id = wanted.group_id
    group = ec2.describe_group(group_id, fresh=True)
    if group is None:
        raise ValueError(f"no such security group in {region}: {group_id}")
    guarded = scope.covers_id(group_id) or scope.covers_tags(group.tags) or store.guards_by_entry(group_id)
    if not guarded:
        raise ValueError(f"{group_id} is not guarded by this stage ({scope}): it needs no exception")
    try:
        allowance = Allowance(
            allowance_id=f"allow-{secrets.token_hex(4)}",
            group_id=group_id,
            region=region,
            rule=wanted.rule,
            expires=now + wanted.span,
            granted_at=now,
            granted_by=granted_by,
            reason=wanted.reason,
        )
    except AllowanceError as error:
        raise ValueError(str(error)) from None
    store.add(allowance)
    return allowance


def listed(store: Store, group_ids: Sequence[str], now: datetime) -> list[str]:
    """One line per exception (of these groups, if named), valid or expired, the latest to expire last."""
    wanted = set(group_ids)
    found = sorted(
        (a for a in store.allowances() if not wanted or a.group_id in wanted), key=lambda a: (a.expires, a.group_id)
    )
    return [line(allowance, now) for allowance in found]


def revoke(store: Store, allowance_id: str) -> Allowance:
    """Remove one exception by its ID. Raises ValueError when the store has none of that ID."""
    found = next((a for a in store.allowances() if a.allowance_id == allowance_id), None)
    if found is None:
        raise ValueError(f"no exception {allowance_id!r} in {store.where} (sentry allow --list shows them)")
    store.remove(found)
    return found


def line(allowance: Allowance, now: datetime) -> str:
    state = (
        f"valid until {moment_text(allowance.expires)}"
        if allowance.valid_at(now)
        else f"EXPIRED at {moment_text(allowance.expires)}"
    )
    return (
        f"{allowance.allowance_id}  {allowance.group_id}  {allowance.rule}  {state}  "
        f"{allowance.reason!r}, granted by {allowance.granted_by} at {moment_text(allowance.granted_at)}"
    )


def store_of(table: str | None, dynamodb: object, baseline_path: Path, stage: str, account: str, region: str) -> Store:
    """The stage's store: its table (at the account and region of the groups), else its baseline file."""
    if table:
        return TableStore(BaselineTable(dynamodb, table), Place(account, region))
    return FileStore(baseline_path, region, stage)
