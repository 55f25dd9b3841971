"""The SNS topic the reports go to: there, confirmed by someone, and the key it is encrypted with."""

from __future__ import annotations

from botocore.exceptions import ClientError

from sentrycli.doctor.deployment import Deployment, Judgement, listing

AWS_MANAGED_SNS_KEY = "alias/aws/sns"


def check_topic(deployment: Deployment) -> Judgement:
    topic_arn = deployment.settings.topic_arn
    if topic_arn is None:
        return False, "SENTRY_TOPIC_ARN is not set: run `sentry setup --email ADDRESS`"
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
        hint = f"{len(subscriptions)} pending: confirm from the email" if subscriptions else "subscribe an address"
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
