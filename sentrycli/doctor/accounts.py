"""An organization's stage: which account-regions it guards, and how the doctor reads each account.

The accounts are the stage's (SENTRY_ACCOUNTS: listed, or every active
account of the organization for `*`), the regions its sweep covers
(SENTRY_REGIONS, else the stage's own). The member role trusts only the
central functions' roles, so the doctor cannot enter a member account by it:
it assumes an audit role there instead (by default the role Organizations
creates in the accounts it creates), with the operator's credentials, and
only reads. The deployment's own account is read with the operator's
credentials, as every other check is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.accounts import AccountLabel, Place, guarded_accounts, places
from chalicelib.domain.config import Settings
from sentrycli.doctor.deployment import Clients, Deployment, listing

AUDIT_ROLE = "OrganizationAccountAccessRole"
AUDIT_SESSION = "sg-sentry-doctor"
# What the doctor calls with the audit role, and nothing else (the README lists them for the role's policy).
AUDIT_ACTIONS = (
    "events:ListRuleNamesByTarget",
    "events:DescribeRule",
    "events:ListTargetsByRule",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
)


def guards_more(settings: Settings) -> bool:
    """Does the stage guard more than its own account in its own region?"""
    return not settings.accounts.home_only or bool(settings.regions)


@dataclass(frozen=True)
class Guarded:
    """The account-regions a stage guards, each account labelled with its name where the organization says it."""

    accounts: tuple[AccountLabel, ...]
    regions: tuple[str, ...]

    @property
    def places(self) -> tuple[Place, ...]:
        return places((label.account for label in self.accounts), self.regions)

    def label(self, account: str) -> AccountLabel:
        return next(label for label in self.accounts if label.account == account)


def guarded(deployment: Deployment) -> Guarded:
    """The stage's account-regions. Raises the AWS error when `*` and the organization cannot be listed."""
    settings = deployment.settings
    try:
        names = active_accounts(deployment.clients("organizations"))
    except (ClientError, BotoCoreError):
        if settings.accounts.organization:
            raise
        names = {}  # listed accounts need no names: the organization is only asked for them
    accounts = guarded_accounts(settings.accounts, deployment.account, names)
    labels = tuple(AccountLabel(account, names.get(account) or None) for account in sorted(accounts))
    return Guarded(labels, settings.regions or (deployment.region,))


def active_accounts(organizations: Any) -> Mapping[str, str]:
    """Account ID -> name of every ACTIVE account, as the sentry itself reads them (organizations:ListAccounts)."""
    return {
        str(account["Id"]): str(account.get("Name") or "")
        for account in listing(organizations, "list_accounts", "Accounts")
        if (account.get("State") or account.get("Status")) == "ACTIVE"
    }


def enter(deployment: Deployment, account: str, audit_role: str) -> Clients:
    """Clients reading `account`: the operator's own in the deployment's account, else the audit role's.

    Raises the AWS error when the audit role cannot be assumed.
    """
    if account == deployment.account:
        return deployment.clients
    answer = deployment.clients("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{audit_role}", RoleSessionName=AUDIT_SESSION
    )
    credentials = answer["Credentials"]

    def clients(service: str, region: str | None = None) -> Any:
        return deployment.clients(service, region=region, credentials=credentials)

    return clients
