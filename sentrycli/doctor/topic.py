"""The SNS topics the reports go to (and the chat topic, if set): there, confirmed, and the topic's key."""

from __future__ import annotations

from botocore.exceptions import ClientError

from sentrycli.doctor.deployment import Deployment, Judgement, listing

AWS_MANAGED_SNS_KEY = "alias/aws/sns"


def check_topic(deployment: Deployment) -> Judgement:
    topic_arn = deployment.settings.topic_arn
    if topic_arn is None:
        return False, "SENTRY_TOPIC_ARN is not set: run `sentry setup --email ADDRESS`"
    ok, detail = _delivers(deployment, topic_arn)
    chat = deployment.settings.chat_topic_arn
    if chat is None:
        return ok, detail
    # The chat topic (SENTRY_CHAT_TOPIC_ARN): Chatbot's subscription is confirmed when a channel is given the topic.
    chat_ok, chat_detail = _delivers(deployment, chat, "connect it to a channel in the AWS Chatbot console")
    return ok and chat_ok, f"{detail}; chat: {chat_detail}"


def _delivers(deployment: Deployment, topic_arn: str, unsubscribed: str = "subscribe an address") -> Judgement:
    sns = deployment.clients("sns", region=topic_arn.split(":")[3])
    try:
        sns.get_topic_attributes(TopicArn=topic_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NotFound":
            return False, f"{topic_arn} does not exist"
        raise
    subscriptions = listing(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn)
    # A subscription awaiting confirmation has the ARN "PendingConfirmation".
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
    if not confirmed:
        hint = f"{len(subscriptions)} pending: confirm from the email" if subscriptions else unsubscribed
        return False, f"{topic_arn} has no confirmed subscription ({hint})"
    endpoints = ", ".join(f"{s['Protocol']}:{s['Endpoint']}" for s in confirmed)
    return True, f"{topic_arn} delivers to {endpoints}"


def topic_key(deployment: Deployment) -> str | None:
    """The customer-managed KMS key of an encrypted topic (publishing needs it too), or None."""
    topic_arn = deployment.settings.topic_arn
    if topic_arn is None:
        return None
    try:
        sns = deployment.clients("sns", region=topic_arn.split(":")[3])
        attributes = sns.get_topic_attributes(TopicArn=topic_arn)
    except ClientError:
        return None  # the topic check reports it
    key = attributes["Attributes"].get("KmsMasterKeyId")
    if not key or key == AWS_MANAGED_SNS_KEY:
        return None
    return key if key.startswith("arn:") else None
