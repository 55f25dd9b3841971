"""`sentry allow`: grant, list and revoke time-boxed exceptions (break-glass) in the baseline's store.

An exception is written only here, with the operator's credentials, to the
store the sentry reads its baseline from: the file (a deploy makes it
effective, as for `sentry snapshot`) or the table (effective at once). Its
granter is the caller as STS names them. Everything is checked before
anything is written: bad input changes nothing. `--revoke` ends an exception
(its expiry becomes the moment, and it names who revoked it) and keeps the
record, so the sweep revokes its rule as it does an expired one's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Protocol

from chalicelib.adapters import baseline_file
from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.domain.accounts import Place
from chalicelib.domain.allowances import MAX_SPAN, PREFIX_LIST_REFUSED, Allowance, AllowanceError, moment_text
from chalicelib.domain.ids import GROUP_ID
from chalicelib.domain.policy import GroupScope, Mode, Policy, judge_exposure
from chalicelib.domain.rules import Rule, Source, SourceKind, rule_from_text

_DURATION = re.compile(r"(?:(?P<days>\d+)d)?(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?")
DURATION_HELP = "a duration such as 2h, 30m, 1d or 1h30m, at most 7 days"
# A source with fewer fixed bits than this reaches the internet broadly: the grant says so.
BROAD_PREFIX = {SourceKind.CIDR_IPV4: 16, SourceKind.CIDR_IPV6: 32}


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

    def rewrite(self, allowance: Allowance) -> None:
        """Write `allowance` over the stored exception of its ID."""
        ...


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

    def rewrite(self, allowance: Allowance) -> None:
        baseline = baseline_file.load(self.path)
        kept = [allowance if a.allowance_id == allowance.allowance_id else a for a in baseline.allowances]
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

    def rewrite(self, allowance: Allowance) -> None:
        self.table.rewrite(self.place, allowance)


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
    _check_source(rule.source)
    span = duration(lasting)
    if not reason or not reason.strip():
        raise ValueError("--reason is needed: the incident or ticket the exception is for (INC-42, say)")
    return Asked(group_id, rule, span, " ".join(reason.split()))


def _check_source(source: Source) -> None:
    """The grant's text names exactly the addresses it means; raises ValueError.

    A prefix list's entries can change after the grant (and the judgement
    grants nothing by one), and a CIDR with host bits set means its network:
    `203.0.113.4/0` is all of IPv4, though every listing would print it as
    written. AWS takes both; an exception does not.
    """
    if source.kind is SourceKind.PREFIX_LIST:
        raise ValueError(PREFIX_LIST_REFUSED)
    if _host_bits(source):
        raise ValueError(f"{source.value} is the network {source.key}: write that if you mean it")


def _host_bits(source: Source) -> bool:
    """A CIDR written with host bits set (203.0.113.4/0), which AWS takes to mean its network."""
    if source.kind not in BROAD_PREFIX:
        return False
    try:
        ip_network(source.value)
    except ValueError:
        return True
    return False


def warning(rule: Rule) -> str | None:
    """A line for the grant's output when the rule lets a wide part of the internet in, or None."""
    shortest = BROAD_PREFIX.get(rule.source.kind)
    if shortest is None:
        return None
    network = rule.source.network
    if network.prefixlen >= shortest or network.is_private:
        return None
    what = "the whole internet" if network.prefixlen == 0 else f"{network.num_addresses:,} addresses of the internet"
    return (
        f"Warning: {network} is {what}: {rule} is open to all of it while the exception lasts; "
        "name the address you need (a /32) unless you mean it"
    )


def grant(
    store: Store,
    ec2: SecurityGroups,
    policy: Policy,
    scope: GroupScope,
    region: str,
    wanted: Asked,
    granted_by: str,
    now: datetime,
) -> Allowance:
    """Record the exception asked for, if the group exists here and is guarded. Raises ValueError.

    A rule already on the group is refused: once the exception ended the
    sweep would revoke a rule that stood before it. In internet mode a rule the policy allows anyway needs none: it is
    refused, since an exception's rule goes once the exception ends.
    """
    if policy.mode is Mode.INTERNET:
        exposure = judge_exposure(wanted.rule, policy)
        if not exposure.revert:
            raise ValueError(
                f"internet mode allows {wanted.rule} anyway ({exposure.reason}): it needs no exception, and one "
                "would have the sweep revoke the rule once it ended"
            )
    group_id = wanted.group_id
    group = ec2.describe_group(group_id, fresh=True)
    if group is None:
        raise ValueError(f"no such security group in {region}: {group_id}")
    guarded = scope.covers_id(group_id) or scope.covers_tags(group.tags) or store.guards_by_entry(group_id)
    if not guarded:
        raise ValueError(f"{group_id} is not guarded by this stage ({scope}): it needs no exception")
    found = ec2.rules_by_group([group_id]).get(group_id)
    if found is not None and wanted.rule in found.rules:
        # Its exception would have the sweep revoke a rule that stood before it (the default egress, say).
        raise ValueError(
            f"{wanted.rule} is already on {group_id}: an exception is for a rule not there yet; add it after the grant"
        )
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


def revoke(store: Store, allowance_id: str, revoked_by: str, now: datetime) -> Allowance:
    """End one exception now, keeping its record; the sweep then revokes its rule. Raises ValueError.

    Its expiry becomes `now` and it names who revoked it: to the sweep it is
    an ended exception, in any mode, where a record removed would leave no
    trace that the rule stood by it alone.
    """
    found = next((a for a in store.allowances() if a.allowance_id == allowance_id), None)
    if found is None:
        raise ValueError(f"no exception {allowance_id!r} in {store.where} (sentry allow --list shows them)")
    try:
        ended = found.ended(now, revoked_by)
    except AllowanceError as error:
        raise ValueError(str(error)) from None
    store.rewrite(ended)
    return ended


def line(allowance: Allowance, now: datetime) -> str:
    void = allowance.void_reason(now)
    if void is not None:
        state = f"GRANTS NOTHING ({void})"
    elif allowance.valid_at(now):
        state = f"valid until {moment_text(allowance.expires)}"
    elif allowance.revoked_by is not None:
        state = f"REVOKED at {moment_text(allowance.expires)} by {allowance.revoked_by}"
    else:
        state = f"EXPIRED at {moment_text(allowance.expires)}"
    source = allowance.rule.source
    means = f" (that is {source.key})" if _host_bits(source) else ""  # a record from before the grant refused it
    return (
        f"{allowance.allowance_id}  {allowance.group_id}  {allowance.rule}{means}  {state}  "
        f"{allowance.reason!r}, granted by {allowance.granted_by} at {moment_text(allowance.granted_at)}"
    )


def store_of(table: str | None, dynamodb: object, baseline_path: Path, stage: str, account: str, region: str) -> Store:
    """The stage's store: its table (at the account and region of the groups), else its baseline file."""
    if table:
        return TableStore(BaselineTable(dynamodb, table), Place(account, region))
    return FileStore(baseline_path, region, stage)
