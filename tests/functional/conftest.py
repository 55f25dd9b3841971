"""A small AWS world in moto, and the sentry invoked the way Lambda would: through chalice.test.Client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws
from moto.sns.models import sns_backends

from app import app
from chalicelib.domain.rules import rule_from_security_group_rule
from localaws import cloudtrail

REGION = "eu-west-1"
FUNCTION = "on_security_group_change"


@dataclass
class World:
    ec2: Any
    sns: Any
    sqs: Any
    vpc_id: str
    topic_arn: str
    queue_url: str

    @classmethod
    def build(cls, ec2: Any, sns: Any, sqs: Any) -> World:
        """A VPC, a topic, and an SQS queue and an email address subscribed to it."""
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        topic_arn = sns.create_topic(Name="sg-sentry-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="secops@example.com")
        return cls(ec2, sns, sqs, vpc_id, topic_arn, queue_url)

    def group(self, name: str = "web-prod", tags: dict[str, str] | None = None, vpc_id: str | None = None) -> str:
        spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
        return str(
            self.ec2.create_security_group(
                GroupName=name,
                Description=name,
                VpcId=vpc_id or self.vpc_id,
                **({"TagSpecifications": spec} if tags else {}),
            )["GroupId"]
        )

    def rules(self, group_id: str) -> set[str]:
        """The group's real rules afterwards, in human terms (egress included)."""
        pages = self.ec2.get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": "group-id", "Values": [group_id]}]
        )
        return {str(rule_from_security_group_rule(r)) for page in pages for r in page["SecurityGroupRules"]}

    def only_rule_id(self, group_id: str, egress: bool = False) -> str:
        """The ID of the group's one rule in that direction."""
        rules = self.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        (rule_id,) = [r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if r["IsEgress"] is egress]
        return str(rule_id)

    def modify(self, group_id: str, rule_id: str, protocol: str, port: int, cidr: str) -> dict[str, Any]:
        """Redefine one rule, and return the event AWS would deliver for it."""
        spec = {"IpProtocol": protocol, "FromPort": port, "ToPort": port, "CidrIpv4": cidr}
        rules = [{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": spec}]
        return self.change("ModifySecurityGroupRules", GroupId=group_id, SecurityGroupRules=rules)

    def change(self, operation: str, record_options: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        """Make a real call, then return the EventBridge event AWS would deliver for it."""
        options = dict(record_options or {})
        created = None
        if operation == "ModifySecurityGroupRules":
            self.ec2.modify_security_group_rules(**params)
        elif operation in cloudtrail.RULE_OPERATIONS:
            _, created = cloudtrail.apply(self.ec2, operation, **params)
        else:  # tags, prefix lists, interfaces: recorded from the request and EC2's answer
            options["response"] = getattr(self.ec2, cloudtrail.snake(operation))(**params)
        record = cloudtrail.record(operation, params, created, region=REGION, **options)
        return cloudtrail.eventbridge(record)

    def prefix_list(self, *cidrs: str, name: str = "corp") -> str:
        """A customer-managed prefix list holding these CIDRs."""
        entries = [{"Cidr": cidr} for cidr in cidrs]
        created = self.ec2.create_managed_prefix_list(
            PrefixListName=name, MaxEntries=10, AddressFamily="IPv4", Entries=entries
        )
        return str(created["PrefixList"]["PrefixListId"])

    def list_version(self, list_id: str) -> int:
        (found,) = self.ec2.describe_managed_prefix_lists(PrefixListIds=[list_id])["PrefixLists"]
        return int(found["Version"])

    def subnet(self) -> str:
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}])["Subnets"]
        if subnets:
            return str(subnets[0]["SubnetId"])
        return str(self.ec2.create_subnet(VpcId=self.vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"])

    def instance(self, *group_ids: str) -> tuple[str, str]:
        """An instance in the world's VPC with these groups: (instance ID, its interface's ID)."""
        launched = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=self.subnet(), SecurityGroupIds=list(group_ids)
        )["Instances"][0]
        return str(launched["InstanceId"]), str(launched["NetworkInterfaces"][0]["NetworkInterfaceId"])

    def interface_groups(self, interface_id: str) -> set[str]:
        """The groups an interface really carries afterwards."""
        (found,) = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[interface_id])["NetworkInterfaces"]
        return {group["GroupId"] for group in found["Groups"]}

    def tags(self, group_id: str) -> dict[str, str]:
        (found,) = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        return {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])}

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """(subject, JSON document) of every notification delivered to the SQS subscriber."""
        found = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                body = json.loads(message["Body"])
                found.append((body["Subject"], json.loads(body["Message"])))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def emails(self) -> list[str]:
        """The text SNS sends to email subscribers of each published message."""
        topic = sns_backends[cloudtrail.ACCOUNT][REGION].topics[self.topic_arn]
        return [json.loads(message)["email"] for _, message, *_ in topic.sent_notifications]


@cache
def test_client(service: str) -> Any:
    """One client per service for the whole suite: moto serves whichever mock is open, and a client costs
    a tenth of a second to build."""
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield World.build(*(test_client(name) for name in ("ec2", "sns", "sqs")))


Invoke = Callable[..., Any]


def invoke_handler(event: dict[str, Any], project_dir: Path, function: str = FUNCTION, **env: str) -> Any:
    """Invoke a handler as Lambda would, with `env` as the stage's environment variables."""
    config = {"version": "2.0", "app_name": "sg-sentry", "stages": {"test": {"environment_variables": env}}}
    (project_dir / ".chalice").mkdir(exist_ok=True)
    (project_dir / ".chalice" / "config.json").write_text(json.dumps(config))
    with Client(app, stage_name="test", project_dir=str(project_dir)) as client:
        return client.lambda_.invoke(function, event).payload


def scheduled_event() -> dict[str, Any]:
    """What EventBridge Scheduler hands the sweep function."""
    with Client(app) as client:
        event: dict[str, Any] = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region=REGION
        )
    return event


@pytest.fixture
def sentry(world: World, tmp_path: Path) -> Invoke:
    """Deliver an event to the handler, with the given SENTRY_* variables (and the world's topic)."""

    def invoke(event: dict[str, Any], **env: str) -> Any:
        return invoke_handler(event, tmp_path, **({"SENTRY_TOPIC_ARN": world.topic_arn} | env))

    return invoke


@pytest.fixture
def sweeper(world: World, tmp_path: Path) -> Invoke:
    """Run the scheduled sweep function once, with the given SENTRY_* variables (and the world's topic)."""

    def invoke(**env: str) -> Any:
        settings = {"SENTRY_TOPIC_ARN": world.topic_arn} | env
        return invoke_handler(scheduled_event(), tmp_path, function="sweep", **settings)

    return invoke


def session_of(role: str, session: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Become a session of `role` in moto (as Lambda does for the function); return its userIdentity."""
    iam = boto3.client("iam", region_name=REGION)
    try:
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    credentials = boto3.client("sts", region_name=REGION).assume_role(RoleArn=arn, RoleSessionName=session)
    keys = credentials["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", keys["SessionToken"])
    return cloudtrail.assumed_role(role, session)


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def ssh_from(cidr: str = "0.0.0.0/0", port: int = 22) -> dict[str, Any]:
    key, name = ("Ipv6Ranges", "CidrIpv6") if ":" in cidr else ("IpRanges", "CidrIp")
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, key: [{name: cidr}]}
