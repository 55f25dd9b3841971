"""Which accounts and regions a deployment guards, and where a change is acted on: as values.

A deployment acts in its own account ("home") with its own credentials, as
it always has. Guarding more (`SENTRY_ACCOUNTS`), it acts in a member
account only through the member role, assumed with a session named after
the event or the sweep round, so that the member's own CloudTrail says why
the sentry called. An account that is not guarded is never acted in: the
event is ignored, with a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.ids import ACCOUNT_ID, REGION

DEFAULT_MEMBER_ROLE = "sg-sentry-member"
# Every session the sentry opens in a member account starts so; STS allows 2 to 64 characters.
SESSION_PREFIX = "sg-sentry-"
_NOT_IN_A_SESSION_NAME = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True, order=True)
class Place:
    """One account in one region: where a change happened, and where the sentry acts on it."""

    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.account}/{self.region}"

    @classmethod
    def parse(cls, text: str) -> Place:
        """ACCOUNT/REGION, as `str` writes it; ValueError for anything else."""
        account, _, region = str(text).partition("/")
        if not ACCOUNT_ID.fullmatch(account) or not REGION.fullmatch(region):
            raise ValueError(f"{str(text)[:60]!r} is not ACCOUNT/REGION (123456789012/us-east-1)")
        return cls(account, region)


@dataclass(frozen=True)
class AccountScope:
    """`SENTRY_ACCOUNTS`: exactly the listed accounts, every active account of the organization, or home alone."""

    listed: frozenset[str] = frozenset()
    organization: bool = False

    @property
    def home_only(self) -> bool:
        """Unset: the deployment's own account, and nothing else (a single-account deployment)."""
        return not self.listed and not self.organization

    def __str__(self) -> str:
        if self.organization:
            return "every active account of the organization"
        if self.listed:
            return f"accounts {', '.join(sorted(self.listed))}"
        return "the deployment's own account"


def guarded_accounts(scope: AccountScope, home: str, organization: Iterable[str] = ()) -> frozenset[str]:
    """The accounts guarded: listed, or the organization's (as `organization` names them), or home alone."""
    if scope.organization:
        return frozenset(organization)
    return scope.listed or frozenset({home})


def session_name(why: str) -> str:
    """The role session for `why` (an event ID, a sweep round): what the member's CloudTrail shows."""
    return (SESSION_PREFIX + _NOT_IN_A_SESSION_NAME.sub("-", why))[:64]


def places(accounts: Iterable[str], regions: Iterable[str]) -> tuple[Place, ...]:
    """Every account in every region, in order: what a sweep round covers."""
    return tuple(sorted(Place(account, region) for account in set(accounts) for region in set(regions)))


@dataclass(frozen=True)
class AccountLabel:
    """An account as reports name it: its ID and, where the organization says it, its name."""

    account: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.account} ({self.name})" if self.name else self.account
