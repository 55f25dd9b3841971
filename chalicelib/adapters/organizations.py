"""The organization's accounts: which are active (`SENTRY_ACCOUNTS=*`), and their names for the reports.

Read from the management account or a delegated administrator
(organizations:ListAccounts), once per warm container and again after ten
minutes, so an account joining the organization is guarded within that.
When a refresh fails, the last list read is used for up to an hour more (an
Organizations hiccup must not stop every revert); a failure with no list to
fall back on is kept for a minute, so a denied listing is not asked again
at every event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters.arns import ANY, Permission
from chalicelib.adapters.aws import translated
from chalicelib.domain.errors import AwsError

KEEP_SECONDS = 600
STALE_SECONDS = 3600
FAILURE_SECONDS = 60

_cache: dict[str, tuple[float, dict[str, str]]] = {}
_failed: dict[str, tuple[float, AwsError]] = {}


class Organization:
    PERMISSIONS = (Permission("organizations:ListAccounts", ANY),)

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def active_accounts(self) -> Mapping[str, str]:
        """Account ID -> name, for every ACTIVE account. Raises `AwsError`."""
        now = time.monotonic()
        cached = _cache.get("accounts")
        if cached is not None and now - cached[0] < KEEP_SECONDS:
            return cached[1]
        failed = _failed.get("accounts")
        if cached is None and failed is not None and now - failed[0] < FAILURE_SECONDS:
            raise failed[1]
        try:
            accounts = self._list()
        except AwsError as error:
            if cached is not None and now - cached[0] < KEEP_SECONDS + STALE_SECONDS:
                return cached[1]
            _failed["accounts"] = (now, error)
            raise
        _cache["accounts"] = (now, accounts)
        _failed.pop("accounts", None)
        return accounts

    @translated
    def _list(self) -> dict[str, str]:
        accounts: dict[str, str] = {}
        for page in self._client().get_paginator("list_accounts").paginate():
            for account in page.get("Accounts", []):
                # "State" is the newer field; "Status" the one it replaces.
                if (account.get("State") or account.get("Status")) == "ACTIVE":
                    accounts[str(account["Id"])] = str(account.get("Name") or "")
        return accounts


def forget() -> None:
    _cache.clear()
    _failed.clear()
