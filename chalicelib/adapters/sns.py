"""The SNS adapter: publishes a report, and says plainly when it could not."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.arns import KEY, TOPIC, Permission
from chalicelib.adapters.aws import describe_error
from chalicelib.domain.errors import NotificationFailed
from chalicelib.domain.ports import Message


class SnsNotifier:
    # On the topic, and on the chat topic when one is set (`Place.chat_topic_arn`): the same publish, another body.
    PERMISSIONS = (Permission("sns:Publish", TOPIC),)
    # Publishing to a topic encrypted with a customer-managed key needs these too, on the key. They are not in
    # the shipped policy (which key is the account's choice); `sentry doctor` checks them when it finds one.
    ENCRYPTED_TOPIC_PERMISSIONS = (Permission("kms:GenerateDataKey", KEY), Permission("kms:Decrypt", KEY))

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, report: Message) -> str:
        """Publish one message (a report; or its chat notification, to the chat topic); return its ID."""
        try:
            response = self._client.publish(
                TopicArn=self.topic_arn,
                Subject=report.subject,
                Message=report.sns_message(),
                MessageStructure="json",
            )
        except (ClientError, BotoCoreError) as error:
            raise NotificationFailed(f"could not publish to {self.topic_arn}: {describe_error(error)}") from error
        return str(response["MessageId"])
