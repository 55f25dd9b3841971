"""Managed prefix lists as values: a rule whose source is a list reaches every address the list holds.

A prefix list's ID says nothing about where it reaches: anyone who may
create or modify a customer-managed list can put ``0.0.0.0/0`` in it, and a
list innocent when a rule referenced it can be changed later with no
security-group event at all. So a list is judged by its entries, read from
EC2 when it is judged. AWS-managed lists (``com.amazonaws.…``, owned by
``AWS``) hold AWS's public addresses by design and cannot be changed by
anyone in the account; which of them count as internal is configuration
(``SENTRY_TRUSTED_PREFIX_LISTS``). Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network

Network = IPv4Network | IPv6Network

# The owner EC2 names for the lists AWS manages.
AWS_OWNER = "AWS"


@dataclass(frozen=True)
class PrefixListEntry:
    cidr: str
    description: str | None = None

    @property
    def network(self) -> Network:
        return ip_network(self.cidr, strict=False)

    def __str__(self) -> str:
        return self.cidr + (f' ("{self.description}")' if self.description else "")


@dataclass(frozen=True)
class PrefixList:
    list_id: str
    name: str | None
    owner_id: str | None
    # Entries of a version never change, which is what makes them cacheable.
    version: int | None
    entries: tuple[PrefixListEntry, ...] = ()
    # EC2's state: "modify-in-progress" while a change is being applied (its entries are then the old ones).
    state: str | None = None
    # Why the list's entries could not be read, when they could not: it is then judged as the internet.
    error: str | None = None

    @property
    def changing(self) -> bool:
        return bool(self.state and self.state.endswith("-in-progress"))

    @property
    def aws_managed(self) -> bool:
        return self.owner_id == AWS_OWNER

    def __str__(self) -> str:
        return f"prefix list {self.list_id}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class ListContents:
    """What the prefix lists a group's rules reference hold now, and held when its baseline was taken.

    `current` maps each list read to its contents, or to None when EC2 has
    no such list; a list that is not in it at all was not read.
    """

    current: Mapping[str, PrefixList | None] = field(default_factory=dict)
    # From the group's baseline entry: list ID -> the CIDRs it held when its rules were approved.
    approved: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def with_approved(self, approved: Mapping[str, tuple[str, ...]]) -> ListContents:
        return ListContents(self.current, approved)


NO_LISTS = ListContents()


def beyond(plist: PrefixList, approved: Iterable[str]) -> tuple[PrefixListEntry, ...]:
    """The entries of `plist` that reach past every approved CIDR (compared as networks)."""
    networks = [ip_network(cidr, strict=False) for cidr in approved]
    return tuple(
        entry
        for entry in plist.entries
        if not any(
            entry.network.version == inside.version and entry.network.subnet_of(inside)  # type: ignore[arg-type]
            for inside in networks
        )
    )


def entries_text(entries: Sequence[PrefixListEntry], limit: int = 3) -> str:
    """Entries in words: ``0.0.0.0/0 ("anyone"), 198.51.100.0/24 and 2 more``."""
    shown = ", ".join(str(entry) for entry in entries[:limit])
    more = len(entries) - limit
    return shown + (f" and {more} more" if more > 0 else "")
