"""`make demo`: someone opens SSH to the world on a guarded group, and the sentry reverts it.

Everything runs against moto's server on 127.0.0.1; no AWS account is used.
The steps AWS performs in production (CloudTrail recording the call,
EventBridge delivering it, SNS emailing the report) are marked below.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.config import Settings
from localaws import cloudtrail
from localaws.server import REGION, local_aws
from sentrycli.project import Project
from sentrycli.replay import replay_local, sweep_local
from sentrycli.snapshot import snapshot, write

PROJECT = Path(__file__).resolve().parent.parent


def main() -> int:
    with local_aws() as endpoint:
        print(f"Local AWS: moto server at {endpoint} (region {REGION})\n")
        ec2, sns, sqs = (boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs"))

        vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        group_id = ec2.create_security_group(
            GroupName="web-prod",
            Description="production web servers",
            VpcId=vpc_id,
            # The dev stage in .chalice/config.json guards groups tagged sg-sentry=guard.
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "sg-sentry", "Value": "guard"}]}],
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
            ],
        )
        topic_arn = sns.create_topic(Name="sg-sentry-alerts")["TopicArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="security@example.com")
        queue_url = sqs.create_queue(QueueName="sg-sentry-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        print(f"Guarded group {group_id} (web-prod, tag sg-sentry=guard) in {vpc_id}; topic {topic_arn}\n")

        print("1. Someone opens SSH to the world through the EC2 API:")
        ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        params = {"GroupId": group_id, "IpPermissions": [ssh]}
        _, created = cloudtrail.apply(ec2, "AuthorizeSecurityGroupIngress", **params)
        _print_rules(ec2, group_id, "   rules before the sentry acts")

        print("\n2. [AWS in production] CloudTrail records the call; EventBridge delivers this event:")
        record = cloudtrail.record("AuthorizeSecurityGroupIngress", params, created, region=REGION)
        event = cloudtrail.eventbridge(record)
        print(_indent(json.dumps(event["detail"]["responseElements"], indent=2), "   "))

        print("\n3. The handler runs as `sentry replay --local` runs it (dev stage settings); its log:")
        sys.stdout.flush()
        # Deployed, SENTRY_TOPIC_ARN sits in the stage's environment (sentry setup writes it).
        os.environ["SENTRY_TOPIC_ARN"] = topic_arn
        answer = replay_local(Project(PROJECT), "dev", event)
        print(f"   the handler answered {json.dumps(answer)}")

        _print_rules(ec2, group_id, "\n4. Rules after")

        print("\n5. [AWS in production] SNS emails this report (read here through an SQS subscription):")
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            print("   no notification arrived", file=sys.stderr)
            return 1
        envelope = json.loads(messages[0]["Body"])
        document = json.loads(envelope["Message"])
        print(f"   Subject: {envelope['Subject']}\n")
        print(_indent(document["text"], "   | "))
        still_open = [rule for rule in _rules(ec2, group_id) if rule.get("CidrIpv4") == "0.0.0.0/0"]
        if still_open:
            print("SSH is still open: the demo failed", file=sys.stderr)
            return 1
        print("SSH to 0.0.0.0/0 is gone; the internal HTTPS rule is untouched.")
        return _drift(ec2, sqs, queue_url, group_id)


def _drift(ec2: Any, sqs: Any, queue_url: str, group_id: str) -> int:
    """Act two: an approved baseline, an approved rule deleted with no event, and the sweep putting it back."""
    with tempfile.TemporaryDirectory(prefix="sg-sentry-demo-") as folder:
        # The demo leaves chalicelib/baseline.json alone: its baseline lives in a temporary file.
        path = Path(folder) / "baseline.json"
        os.environ["SENTRY_BASELINE_FILE"] = str(path)
        settings = Settings.from_env(Project(PROJECT).environment("dev"))
        print("\n6. `sentry snapshot`: the group's rules now become its approved baseline:")
        write(snapshot(SecurityGroups(ec2, GroupCache()), settings.scope, REGION), path)
        print(_indent(path.read_text(), "   "))

        print("\n7. Someone deletes the approved HTTPS rule, and EventBridge never delivers the event:")
        https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[https])
        _print_rules(ec2, group_id, "   rules now")

        print("\n8. [AWS in production, every 15 minutes] the schedule invokes the sweep function; its log:")
        sys.stdout.flush()
        answer = sweep_local(Project(PROJECT), "dev", REGION)
        print(f"   the sweep answered {json.dumps(answer)}")
        _print_rules(ec2, group_id, "\n9. Rules after the sweep")

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    if not messages:
        print("   no sweep summary arrived", file=sys.stderr)
        return 1
    envelope = json.loads(messages[0]["Body"])
    print(f"\n10. [AWS in production] SNS emails one summary for the sweep:\n   Subject: {envelope['Subject']}\n")
    print(_indent(json.loads(envelope["Message"])["text"], "   | "))
    if not any(rule.get("CidrIpv4") == "10.20.0.0/16" for rule in _rules(ec2, group_id)):
        print("The approved HTTPS rule is still missing: the demo failed", file=sys.stderr)
        return 1
    print("The approved HTTPS rule is back, as approved.")
    return 0


def _rules(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [rule for rule in rules["SecurityGroupRules"] if not rule["IsEgress"]]


def _print_rules(ec2: Any, group_id: str, title: str) -> None:
    print(f"{title} (ingress of {group_id}):")
    if not _rules(ec2, group_id):
        print("   (none)")
    for rule in _rules(ec2, group_id):
        source = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId") or "a group"
        ports = f"{rule['FromPort']}-{rule['ToPort']}"
        print(f"   - {rule['IpProtocol']} {ports} from {source} [{rule['SecurityGroupRuleId']}]")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


if __name__ == "__main__":
    raise SystemExit(main())
