"""The real ports, over cached boto3 clients: what the use cases work through in Lambda and the CLI.

Tests give the use cases their own `Aws` (`tests/fakes.py`); everything
else uses `BotoAws`. In a member account (`acting_in`) the EC2 ports use the
member role's credentials; the topic, the organization, the baseline and
the caller's identity stay the deployment's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from chalicelib.adapters import aws
from chalicelib.adapters.aws import Credentials, translated
from chalicelib.adapters.baseline_file import FileBaselines
from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.ec2_interfaces import NetworkInterfaces
from chalicelib.adapters.ec2_prefix_lists import PrefixLists
from chalicelib.adapters.identity import OwnIdentity
from chalicelib.adapters.members import MemberSessions
from chalicelib.adapters.organizations import Organization
from chalicelib.adapters.sns import SnsNotifier
from chalicelib.adapters.sweep_rounds import SweepQueue, SweepRounds
from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE
from chalicelib.domain.config import Settings
from chalicelib.domain.errors import AwsError

# The deployment's own account, asked of STS once per container (Lambda's context says it, when there is one).
_home: dict[str, str] = {}


class BotoAws:
    """The real adapters, over cached boto3 clients (one per service, region and account)."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials

    def security_groups(self, region: str) -> SecurityGroups:
        return SecurityGroups(aws.client("ec2", region, self._credentials))

    def prefix_lists(self, region: str) -> PrefixLists:
        return PrefixLists(aws.client("ec2", region, self._credentials))

    def interfaces(self, region: str) -> NetworkInterfaces:
        return NetworkInterfaces(aws.client("ec2", region, self._credentials))

    def notifier(self, topic_arn: str) -> SnsNotifier:
        region = topic_arn.split(":")[3]
        return SnsNotifier(aws.client("sns", region), topic_arn)

    def own_identity(self, region: str, env: Mapping[str, str]) -> OwnIdentity:
        function = env.get("AWS_LAMBDA_FUNCTION_NAME")
        # Only a deployment guarding more than its own account acts through the member role.
        organization = bool(env.get("SENTRY_ACCOUNTS", "").strip())
        member_role = (env.get("SENTRY_MEMBER_ROLE", "").strip() or DEFAULT_MEMBER_ROLE) if organization else None
        return OwnIdentity(
            lambda: aws.client("sts", region),
            function,
            env.get("SENTRY_SWEEP_ROLE_ARN") or None,
            member_role,
            self._home_or_none,
        )

    def _home_or_none(self) -> str | None:
        try:
            return self.home_account()
        except AwsError:
            return None

    def home_account(self) -> str:
        if "account" not in _home:
            _home["account"] = _caller_account()
        return _home["account"]

    def acting_in(self, account: str, session: str, role: str) -> BotoAws:
        sessions = MemberSessions(lambda: aws.client("sts", _home_region()), role)
        return BotoAws(sessions.credentials(account, session))

    def organization(self) -> Organization:
        # Organizations answers in us-east-1 whatever the caller's region.
        return Organization(lambda: aws.client("organizations", "us-east-1"))

    def baselines(self, settings: Settings, home: Callable[[], str]) -> FileBaselines | BaselineTable:
        if settings.baseline_table is None:
            return FileBaselines(settings.baseline_path, home)
        return BaselineTable(aws.client("dynamodb", _home_region()), settings.baseline_table, home)

    def sweep_rounds(self, table: str) -> SweepRounds:
        return SweepRounds(aws.client("dynamodb", _home_region()), table)

    def sweep_queue(self, name: str) -> SweepQueue:
        return SweepQueue(aws.client("sqs", _home_region()), name)


@translated
def _caller_account() -> str:
    return str(aws.client("sts", _home_region()).get_caller_identity()["Account"])


def _home_region() -> str:
    """The deployment's own region: Lambda sets AWS_REGION; the CLI, its profile or AWS_DEFAULT_REGION."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def forget() -> None:
    """Forget every cache of a warm container: clients, credentials, accounts, groups (tests switch AWS mocks)."""
    from chalicelib.adapters import ec2_prefix_lists, identity, members, organizations
    from chalicelib.adapters.ec2 import GROUP_CACHE

    aws.reset()
    GROUP_CACHE.clear()
    ec2_prefix_lists.forget()
    identity.forget()
    members.forget()
    organizations.forget()
    _home.clear()
