"""What an adapter declares it needs from IAM: an action, on a resource named by an ARN template.

A template writes the parts of an ARN that vary as IAM's documentation does,
``${Placeholder}``; a `Place` says what they stand for where the permissions
are judged: a value, ``*`` (any), or several values (one resource each).
The shipped policy is the declaration rendered with wildcards, `sentry doctor`
renders it with the account, region, topic and groups it finds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from string import Template

ANY = "*"

# The resources the adapters act on. IAM allows the Describe calls only on "*": they name no resource.
SECURITY_GROUP = "arn:${Partition}:ec2:${Region}:${Account}:security-group/${SecurityGroupId}"
# A rule is a resource of its own beside its group, since rules have IDs.
SECURITY_GROUP_RULE = "arn:${Partition}:ec2:${Region}:${Account}:security-group-rule/${SecurityGroupRuleId}"
NETWORK_INTERFACE = "arn:${Partition}:ec2:${Region}:${Account}:network-interface/${NetworkInterfaceId}"
PREFIX_LIST = "arn:${Partition}:ec2:${Region}:${Account}:prefix-list/${PrefixListId}"
# Given whole by the configuration (the topic) or by AWS (the topic's key): either may be in another region.
TOPIC = "${TopicArn}"
KEY = "${KeyArn}"
# Lambda writes a function's logs to the log group named after it, a stream per container.
LOG_GROUP = "arn:${Partition}:logs:${Region}:${Account}:log-group:/aws/lambda/${FunctionName}"
LOG_STREAM = LOG_GROUP + ":log-stream:${LogStreamName}"
# An organization's deployment: the role it assumes in each member account (IAM is global: no region),
# its table (the baseline, and the tally of each sweep round) and the queue that fans the sweep out.
MEMBER_ROLE = "arn:${Partition}:iam::${Account}:role/${MemberRole}"
TABLE = "arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}"
QUEUE = "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"


@dataclass(frozen=True)
class Place:
    """What the placeholders of the templates stand for; each defaults to any."""

    partition: str = "aws"
    region: str = ANY
    account: str = ANY
    group_ids: Sequence[str] = (ANY,)
    topic_arn: str = ANY
    # The chat topic (SENTRY_CHAT_TOPIC_ARN), when one is configured: whatever is declared on the topic, on it too.
    chat_topic_arn: str | None = None
    key_arn: str = ANY
    function_name: str = ANY
    # Resources no setting names: any of them, or one standing for its kind.
    rule_id: str = ANY
    interface_id: str = ANY
    prefix_list_id: str = ANY
    log_stream: str = ANY
    member_role: str = ANY
    table_name: str = ANY
    queue_name: str = ANY

    def values(self) -> dict[str, Sequence[str]]:
        return {
            "Partition": [self.partition],
            "Region": [self.region],
            "Account": [self.account],
            "SecurityGroupId": self.group_ids,
            "SecurityGroupRuleId": [self.rule_id],
            "NetworkInterfaceId": [self.interface_id],
            "PrefixListId": [self.prefix_list_id],
            "TopicArn": [self.topic_arn, *([self.chat_topic_arn] if self.chat_topic_arn else [])],
            "KeyArn": [self.key_arn],
            "FunctionName": [self.function_name],
            "LogStreamName": [self.log_stream],
            "MemberRole": [self.member_role],
            "TableName": [self.table_name],
            "QueueName": [self.queue_name],
        }


@dataclass(frozen=True)
class Permission:
    """One IAM action on one kind of resource (`resource`: an ARN template, or "*")."""

    action: str
    resource: str

    def render(self, place: Place) -> list[Permission]:
        """This permission on each resource it means at `place`: one per value of every placeholder."""
        template = Template(self.resource)
        names = template.get_identifiers()
        values: Mapping[str, Sequence[str]] = place.values()
        unknown = [name for name in names if name not in values]
        if unknown or not template.is_valid():
            raise ValueError(f"{self.resource!r}: not a resource template this module fills in ({unknown})")
        return [
            Permission(self.action, template.substitute(dict(zip(names, chosen, strict=True))))
            for chosen in product(*(values[name] for name in names))
        ]
