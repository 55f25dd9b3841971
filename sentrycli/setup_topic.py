"""`sentry setup`: the SNS topic, an email subscription, and the stage's settings that point at them.

The stage's policy may then publish to that topic, and to the stage's chat
topic (SENTRY_CHAT_TOPIC_ARN) when it names one: run setup again after setting it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentrycli.project import Project

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# SNS topic names: letters, digits, '-' and '_', 1 to 256 characters.
TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class SetupResult:
    topic_arn: str
    subscription: str
    files: list[tuple[Path, bool]]  # each file setup edits, and whether it was written (False: it said so already)


def setup_topic(sns: Any, project: Project, stage: str, email: str, topic_name: str | None = None) -> SetupResult:
    """Create (or reuse) the topic, subscribe `email` once, and write the topic into the stage.

    Everything that can be checked is checked before the first AWS call, so
    bad input changes nothing.
    """
    if not EMAIL.match(email):
        raise ValueError(f"{email!r} is not an email address")
    project.topic_edit(stage, "arn:aws:sns:region:000000000000:placeholder")
    topic_name = topic_name or f"sg-sentry-{stage}"
    if not TOPIC_NAME.match(topic_name):
        raise ValueError(f"{topic_name!r} is not a topic name (letters, digits, '-' and '_')")
    topic_arn = str(sns.create_topic(Name=topic_name)["TopicArn"])
    project.topic_edit(stage, topic_arn)  # the stage's chat topic must be another topic: refused before subscribing
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    existing = [s for s in subscriptions if s["Protocol"] == "email" and s["Endpoint"].lower() == email.lower()]
    if existing:
        subscription = existing[0]["SubscriptionArn"]
    else:
        subscription = sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=email)["SubscriptionArn"]
    return SetupResult(topic_arn, subscription, project.set_topic(stage, topic_arn))
