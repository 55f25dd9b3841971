"""Chat: the chat topic's subscribers get AWS Chatbot's custom notification; the email topic's, what they always got."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from moto.sns.models import sns_backends

from chalicelib.domain.errors import NotificationFailed
from localaws import cloudtrail
from sentrycli.doctor import Doctor
from sentrycli.doctor.role import needs
from sentrycli.doctor.topic import check_topic
from sentrycli.project import Project
from tests.functional.conftest import REGION, Invoke, World, ssh_from
from tests.functional.conftest import test_client as client_for
from tests.functional.test_bypass_prefix_lists import from_list

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"


def chat_inbox(world: World, name: str = "sg-sentry-chat") -> tuple[str, str]:
    """A chat topic with an SQS queue subscribed, as Chatbot subscribes over HTTPS: (topic ARN, queue URL)."""
    topic = world.sns.create_topic(Name=name)["TopicArn"]
    queue = world.sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    world.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def delivered(world: World, queue: str) -> list[dict[str, Any]]:
    """The message SNS delivered to the queue, each parsed as a subscriber over HTTPS would."""
    messages = world.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]


def published(world: World, topic: str) -> list[dict[str, str]]:
    """What was published to a topic, per protocol, as SNS holds it."""
    found = sns_backends[cloudtrail.ACCOUNT][REGION].topics[topic].sent_notifications
    return [json.loads(message) for _, message, *_ in found]


def test_the_chat_topic_gets_a_custom_notification_naming_the_group_and_the_rule(world: World, sentry: Invoke) -> None:
    chat, queue = chat_inbox(world)
    group = world.group("@here web-prod")
    identity = cloudtrail.assumed_role("Admin", "erin@example.com")
    event = world.change(
        "AuthorizeSecurityGroupIngress",
        {"identity": identity, "source_ip": "203.0.113.77"},
        GroupId=group,
        IpPermissions=[ssh_from()],
    )

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet", SENTRY_CHAT_TOPIC_ARN=chat)

    assert world.rules(group) == {DEFAULT_EGRESS}
    (notification,) = delivered(world, queue)
    assert (notification["version"], notification["source"]) == ("1.0", "custom")
    content = notification["content"]
    assert content["title"] == f"sg-sentry: reverted 1 rule on {group} (＠here web-prod)"
    for expected in (
        f"*Group* `{group} (＠here web-prod)` in `eu-west-1`",
        "*Who* `arn:aws:sts::123456789012:assumed-role/Admin/erin＠example.com` (AssumedRole)",
        "*From* `203.0.113.77`",
        "• `tcp 22 from 0.0.0.0/0, ingress`: *reverted*, opens tcp 22 to the internet",
    ):
        assert expected in content["description"]
    console = f"https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId={group}"
    assert content["nextSteps"] == [f"Open {group} in the EC2 console: {console}"]
    # The email topic: one message, as before: text for email, the JSON document for every other protocol.
    ((subject, document),) = world.messages()
    assert subject == f"sg-sentry: reverted 1 rule on {group} (@here web-prod)"
    assert document["source"] == "sg-sentry" and "content" not in document
    (email,) = world.emails()
    assert email == document["text"] and f"Group        {group} (@here web-prod)" in email
    # How long the change stayed open: the same words in the chat as in the email.
    (open_for,) = re.findall(r"open for (.+?), from the change", email)
    assert f"*Open for* {open_for}, until the revert was confirmed" in content["description"]


def test_a_link_in_a_prefix_list_or_group_name_reaches_the_chat_as_text(world: World, sentry: Invoke) -> None:
    chat, queue = chat_inbox(world)
    link = "[Open the approval form](https://evil.example/sso)"
    group = world.group("[Approve now](https://evil.example/g)")  # a valid group name
    listed = world.ec2.create_managed_prefix_list(
        PrefixListName=f"corp {link}",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "0.0.0.0/0", "Description": "*URGENT* ~revert~"}],
    )["PrefixList"]["PrefixListId"]
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(listed)])

    sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet", SENTRY_CHAT_TOPIC_ARN=chat)

    assert world.rules(group) == {DEFAULT_EGRESS}
    (notification,) = delivered(world, queue)
    content = notification["content"]
    # Look-alikes for what would make a link, a URL or emphasis; the name as typed in its code span.
    assert content["title"] == f"sg-sentry: reverted 1 rule on {group} (［Approve now］(https:⁄⁄evil․example/g))"
    assert f"*Group* `{group} ([Approve now](https://evil.example/g))`" in content["description"]
    assert (
        f"*reverted*, opens tcp 22 to the internet through prefix list {listed} "
        '(corp ［Open the approval form］(https:⁄⁄evil․example/sso)), which holds 0.0.0.0/0 ("∗URGENT∗ ˜revert˜")'
    ) in content["description"]
    console = f"https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId={group}"
    assert content["nextSteps"] == [f"Open {group} in the EC2 console: {console}"]
    # The email says it as it is.
    (email,) = world.emails()
    assert f"prefix list {listed} (corp {link})" in email


def test_the_email_topic_gets_the_same_message_with_chat_as_without(world: World, sentry: Invoke) -> None:
    chat, _ = chat_inbox(world)
    bodies = []
    # The same group twice (a name is unique in its VPC only), once without chat, once with it.
    other_vpc = world.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    for vpc_id, chat_topic in ((world.vpc_id, {}), (other_vpc, {"SENTRY_CHAT_TOPIC_ARN": chat})):
        group = world.group("web-prod", vpc_id=vpc_id)
        event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
        sentry(event, SENTRY_GROUP_IDS=group, **chat_topic)
        (created,) = event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
        rule_id = created["securityGroupRuleId"]
        (body,) = published(world, world.topic_arn)[len(bodies) :]
        # The same message, byte for byte, but for what differs between the two changes: their IDs, and how
        # long each stayed open (measured to the moment its revert was confirmed).
        text = json.dumps(body).replace(group, "GROUP").replace(event["detail"]["eventID"], "EVENT")
        bodies.append(re.sub(r'(exposure_seconds\\+": )[0-9.]+', r"\1SECONDS", text.replace(rule_id, "RULE")))

    assert bodies[0] == bodies[1]
    assert set(json.loads(bodies[1])) == {"default", "email", "sms"}
    (chat_body,) = published(world, chat)
    assert set(chat_body) == {"default"} and json.loads(chat_body["default"])["source"] == "custom"


def test_both_topics_failing_is_one_error_naming_both(world: World, sentry: Invoke) -> None:
    group = world.group()
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    email = world.topic_arn.replace("sg-sentry-alerts", "sg-sentry-gone")
    chat = world.topic_arn.replace("sg-sentry-alerts", "sg-sentry-chat-gone")

    with pytest.raises(NotificationFailed, match=r"sg-sentry-gone.*; .*sg-sentry-chat-gone"):
        sentry(event, SENTRY_GROUP_IDS=group, SENTRY_TOPIC_ARN=email, SENTRY_CHAT_TOPIC_ARN=chat)

    assert world.rules(group) == {DEFAULT_EGRESS}


def test_the_sweep_reports_to_the_chat_topic_too(world: World, sweeper: Invoke) -> None:
    chat, queue = chat_inbox(world)
    group = world.group("web-prod", tags={"sg-sentry": "guard"})
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])

    sweeper(SENTRY_GROUP_TAG="sg-sentry=guard", SENTRY_MODE="internet", SENTRY_CHAT_TOPIC_ARN=chat)

    assert world.rules(group) == {DEFAULT_EGRESS}
    (notification,) = delivered(world, queue)
    assert notification["metadata"] == {"eventType": "sg-sentry-sweep", "relatedResources": [group]}
    assert f"• `{group} (web-prod)`: reverted 1" in notification["content"]["description"]
    assert len(world.messages()) == 1


def test_doctor_checks_the_chat_topic_once_set(world: World) -> None:
    chat, queue = chat_inbox(world)
    unsubscribed = world.sns.create_topic(Name="sg-sentry-chat-alone")["TopicArn"]
    judged = []
    for chat_topic in (chat, unsubscribed):
        doctor = Doctor(Project(Path(".")), "dev", REGION, lambda service, **_: client_for(service))
        settings = {"SENTRY_TOPIC_ARN": world.topic_arn, "SENTRY_CHAT_TOPIC_ARN": chat_topic, "SENTRY_GROUP_IDS": "*"}
        doctor.__dict__["environment"] = settings
        judged.append(check_topic(doctor))
        # The role check: the function must be allowed to publish to both topics.
        published_to = {need.resource for need in needs(doctor, "sg-sentry-dev") if need.action == "sns:Publish"}
        assert published_to == {world.topic_arn, chat_topic}

    (ok, detail), (alone_ok, alone_detail) = judged
    assert ok and detail.endswith(
        f"; chat: {chat} delivers to sqs:arn:aws:sqs:{REGION}:{cloudtrail.ACCOUNT}:{queue.split('/')[-1]}"
    )
    assert not alone_ok
    assert alone_detail.endswith(
        f"; chat: {unsubscribed} has no confirmed subscription (connect it to a channel in the AWS Chatbot console)"
    )
