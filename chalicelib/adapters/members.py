"""Credentials in member accounts: the member role, assumed once per event (or sweep round) and account.

The session is named after what the sentry is doing (`accounts.session_name`):
the member's own CloudTrail then shows, for each revoke, the event that
caused it. Credentials are kept for the life of a warm container while they
are valid for five more minutes, so a retry of the same event, or the next
region of the same sweep round, asks STS nothing. The function's own
account needs no role: it is acted in with the function's credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.arns import MEMBER_ROLE, Permission
from chalicelib.adapters.aws import Credentials, translated
from chalicelib.domain.errors import AwsError

# Long enough for the longest sweep of one account and region (the worker's 15 minutes), and no longer.
DURATION_SECONDS = 3600
MARGIN = timedelta(minutes=5)

_cache: dict[tuple[str, str, str], Credentials] = {}


class MemberSessions:
    PERMISSIONS = (Permission("sts:AssumeRole", MEMBER_ROLE),)

    def __init__(self, sts: Callable[[], Any], role_name: str, partition: str = "aws") -> None:
        self._sts = sts
        self._role = role_name
        self._partition = partition

    def role_arn(self, account: str) -> str:
        return f"arn:{self._partition}:iam::{account}:role/{self._role}"

    def credentials(self, account: str, session: str) -> Credentials:
        """The member role's credentials in `account`; raises `AwsError` naming the role when STS refuses."""
        key = (account, self._role, session)
        cached = _cache.get(key)
        if cached is not None and cached.expires - MARGIN > datetime.now(UTC):
            return cached
        try:
            answer = self._assume(account, session)
        except AwsError as error:
            raise AwsError(f"could not assume {self.role_arn(account)}: {error}", error.code) from error
        made = answer["Credentials"]
        expires = made["Expiration"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        for stale in [k for k, kept in _cache.items() if kept.expires <= datetime.now(UTC)]:
            del _cache[stale]  # a warm container handles events for hours: it keeps only live credentials
        _cache[key] = Credentials(account, made["AccessKeyId"], made["SecretAccessKey"], made["SessionToken"], expires)
        return _cache[key]

    @translated
    def _assume(self, account: str, session: str) -> Any:
        return self._sts().assume_role(
            RoleArn=self.role_arn(account), RoleSessionName=session, DurationSeconds=DURATION_SECONDS
        )


def forget() -> None:
    """Forget every member credential (tests start each AWS mock afresh)."""
    _cache.clear()
