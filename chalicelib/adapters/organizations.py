"""The organization's accounts: which are active (`SENTRY_ACCOUNTS=*`), and their names for the reports.

Read from the management account or a delegated administrator
(organizations:ListAccounts), once per warm container and again after ten
minutes, so an account joining the organization is guarded within that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters.arns import ANY, Permission
from chalicelib.adapters.aws import translated

KEEP_SECONDS = 600

_cache: dict[str, tuple[float, dict[str, str]]] = {}


class Organization:
    PERMISSIONS = (Permission("organizations:ListAccounts", ANY),)

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def active_accounts(self) -> Mapping[str, str]:
        """Account ID -> name, for every ACTIVE account. Raises `AwsError`."""
        cached = _cache.get("accounts")
        if cached is not None and time.monotonic() - cached[0] < KEEP_SECONDS:
            return cached[1]
        accounts = self._list()
        _cache["accounts"] = (time.monotonic(), accounts)
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
