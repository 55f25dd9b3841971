"""The real ports, over cached boto3 clients: what the use cases work through in Lambda and the CLI.

Tests give the use cases their own `Aws` (`tests/fakes.py`); everything
else uses `BotoAws`.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.adapters import aws
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.ec2_interfaces import NetworkInterfaces
from chalicelib.adapters.ec2_prefix_lists import PrefixLists
from chalicelib.adapters.identity import OwnIdentity
from chalicelib.adapters.sns import SnsNotifier


class BotoAws:
    """The real adapters, over cached boto3 clients (one per service and region)."""

    def security_groups(self, region: str) -> SecurityGroups:
        return SecurityGroups(aws.client("ec2", region))

    def prefix_lists(self, region: str) -> PrefixLists:
        return PrefixLists(aws.client("ec2", region))

    def interfaces(self, region: str) -> NetworkInterfaces:
        return NetworkInterfaces(aws.client("ec2", region))

    def notifier(self, topic_arn: str) -> SnsNotifier:
        region = topic_arn.split(":")[3]
        return SnsNotifier(aws.client("sns", region), topic_arn)

    def own_identity(self, region: str, env: Mapping[str, str]) -> OwnIdentity:
        function = env.get("AWS_LAMBDA_FUNCTION_NAME")
        return OwnIdentity(lambda: aws.client("sts", region), function, env.get("SENTRY_SWEEP_ROLE_ARN") or None)
