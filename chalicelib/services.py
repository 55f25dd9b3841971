"""The adapters a handler works through, and publishing a report: shared by the event handler and the sweep.

Tests and the CLI give `Aws` their own implementations; Lambda uses `BotoAws`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.ec2 import SecurityGroups
from chalicelib.ec2_interfaces import NetworkInterfaces
from chalicelib.ec2_prefix_lists import PrefixLists
from chalicelib.identity import OwnIdentity
from chalicelib.logs import DecisionLog
from chalicelib.notify import NotificationFailed, SnsNotifier
from chalicelib.report import Report


class Aws(Protocol):
    def security_groups(self, region: str) -> SecurityGroups: ...

    def prefix_lists(self, region: str) -> PrefixLists: ...

    def interfaces(self, region: str) -> NetworkInterfaces: ...

    def notifier(self, topic_arn: str) -> SnsNotifier: ...

    def own_identity(self, region: str, env: Mapping[str, str]) -> OwnIdentity: ...


class BotoAws:
    """The real adapters, over cached boto3 clients."""

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


def publish(
    report: Report, settings: Settings, services: Aws, log: DecisionLog, context: dict[str, Any]
) -> NotificationFailed | None:
    """Publish to the topic, if one is set; log either way and return the failure, if any."""
    if settings.topic_arn is None:
        return None
    try:
        message_id = services.notifier(settings.topic_arn).publish(report)
    except NotificationFailed as error:
        log.write("ERROR", str(error), "notification-failed", **context)
        return error
    log.write("INFO", f"notified {settings.topic_arn} (message {message_id})", "notified", **context)
    return None
