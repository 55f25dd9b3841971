"""`make demo`: someone opens SSH to the world on a guarded group, and the sentry reverts it.

Everything runs against moto's server on 127.0.0.1; no AWS account is used.
The steps AWS performs in production (CloudTrail recording the call,
EventBridge delivering it, SNS emailing the report) are marked below.
Three acts: an event (the dev stage), drift the sweep restores (the dev
stage), and a change in another account of an organization, reverted there
by the central deployment (the org stage). Each stage's settings are as in
.chalice/config.json, with the few the story needs over them (`OWN`, `UNSET`),
whatever a user has set there; the demo prints them before the story. The
JSON lines the functions log are kept out of the story and printed after it,
step by step.

    python -m localaws.demo [--project-dir DIR]   # DIR: the project whose stages it reads (default: this one)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.config import Settings
from chalicelib.domain.rules import read_security_group_rule
from chalicelib.usecases.fan_out import scheduled_round
from localaws import cloudtrail
from localaws.organization import Central, central_role_arns, create_member_stack, prepare_central
from localaws.server import ADMIN_ROLE, REGION, in_account, local_aws
from sentrycli.project import HANDLER, SWEEP, Project
from sentrycli.replay import replay_local
from sentrycli.settings import stage_settings
from sentrycli.snapshot import snapshot, write

PROJECT = Path(__file__).resolve().parent.parent
# Act three: the organization's central deployment, and the member account's region.
ORG_STAGE = "org"
MEMBER_REGION = "us-east-1"
# Wider JSON than this is laid out one member a line.
WIDTH = 110
# What the story needs, whatever a stage says (yours may name a real topic, groups by ID, a dry run, a chat topic):
# the demo's topic in moto (SENTRY_TOPIC_ARN), its groups guarded by their tag and reverted for real in lockdown
# mode; no groups by ID, no chat topic, no exempt principal (the demo's actors would be); and the dev stage one
# account's deployment with its baseline in a file (the org stage's act needs its table, queue and accounts).
OWN = {"SENTRY_GROUP_TAG": "sg-sentry=guard", "SENTRY_MODE": "lockdown", "SENTRY_DRY_RUN": "false"}
EVERY_STAGE_UNSET = ("SENTRY_GROUP_IDS", "SENTRY_CHAT_TOPIC_ARN", "SENTRY_EXEMPT_PRINCIPALS")
ONE_ACCOUNT = ("SENTRY_ACCOUNTS", "SENTRY_REGIONS", "SENTRY_MEMBER_ROLE", "SENTRY_BASELINE_TABLE", "SENTRY_SWEEP_QUEUE")
UNSET = {"dev": EVERY_STAGE_UNSET + ONE_ACCOUNT, ORG_STAGE: EVERY_STAGE_UNSET}
STAGES = tuple(UNSET)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo's functions run with: a stage's settings (as `sentry replay` reads them), the demo's over them."""

    project: Project
    topic_arn: str

    @property
    def own(self) -> dict[str, str]:
        return {"SENTRY_TOPIC_ARN": self.topic_arn, **OWN}

    def env(self, stage: str, function: str, **more: str) -> dict[str, str]:
        """The environment `function` of `stage` runs with here; `more`: what one step adds (its baseline file)."""
        staged = stage_settings(self.project, stage, function).env
        kept = {name: value for name, value in staged.items() if name not in UNSET[stage]}
        return kept | self.own | {"AWS_REGION": REGION} | more

    def line(self) -> str:
        """The settings, in one line: the demo's own, and which of the stages' it sets aside."""
        own = ", ".join(f"{name}={value}" for name, value in self.own.items())
        aside = [
            f"{stage}'s {name}"
            for stage in STAGES
            for name, value in self.project.environment(stage).items()
            if name in UNSET[stage] or self.own.get(name, value) != value
        ]
        unset = "; ".join(f"in {stage} no {' or '.join(names)}" for stage, names in UNSET.items())
        line = f"Settings: each stage's in {self.project.config_path}, with the demo's over them: {own}; {unset}"
        return line + (f" (set aside: {', '.join(aside)})" if aside else "")


class Logs:
    """The JSON lines the functions write while the demo runs, kept to be shown after the story."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, list[str]]] = []

    @contextlib.contextmanager
    def of(self, step: str) -> Iterator[None]:
        """Collect what the functions print during `step` (in Lambda, their log in CloudWatch Logs)."""
        written = io.StringIO()
        try:
            with contextlib.redirect_stdout(written):
                yield
        finally:
            lines = written.getvalue().splitlines()
            self.steps.append((step, lines))
            print(
                f"   ({len(lines)} log line{'' if len(lines) == 1 else 's'}, shown after the story under step {step})"
            )

    def show(self) -> None:
        if not self.steps:
            return
        print("\nThe functions' log lines, one JSON object per line (in production, CloudWatch Logs holds them):")
        for step, lines in self.steps:
            print(f"\nstep {step}:")
            print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localaws.demo", description="The sentry against a local AWS.")
    parser.add_argument("--project-dir", type=Path, default=PROJECT, help="the project whose stages it reads")
    project = Project(parser.parse_args(argv).project_dir.resolve())
    logs = Logs()
    try:
        return _story(logs, project)
    finally:
        logs.show()


def _story(logs: Logs, project: Project) -> int:
    with local_aws() as endpoint:
        print(f"Local AWS: moto server at {endpoint} (region {REGION})\n")
        ec2, sns, sqs = (boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs"))

        vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        group_id = ec2.create_security_group(
            GroupName="web-prod",
            Description="production web servers",
            VpcId=vpc_id,
            # The demo's settings guard groups tagged sg-sentry=guard (as the shipped dev stage does).
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
        print(f"Guarded group {group_id} (web-prod, tag sg-sentry=guard) in {vpc_id}; topic {topic_arn}")
        settings = DemoSettings(project, topic_arn)
        print(settings.line() + "\n")

        print("1. Someone opens SSH to the world through the EC2 API:")
        ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        params = {"GroupId": group_id, "IpPermissions": [ssh]}
        _, created = cloudtrail.apply(ec2, "AuthorizeSecurityGroupIngress", **params)
        _print_rules(ec2, group_id, "   rules before the sentry acts")

        print("\n2. [AWS in production] CloudTrail records the call; EventBridge delivers this event:")
        record = cloudtrail.record("AuthorizeSecurityGroupIngress", params, created, region=REGION, event_time=_now())
        event = _delivered(cloudtrail.eventbridge(record))

        print("\n3. The handler runs as `sentry replay --local` runs it (with the settings above):")
        with logs.of("3"):
            answer = _replay(settings, "dev", event)
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
        if _drift(ec2, sqs, queue_url, group_id, logs, settings):
            return 1
        return _organization(sqs, queue_url, logs, settings)


def _replay(settings: DemoSettings, stage: str, event: dict[str, Any]) -> Any:
    """The handler's answer, run as `sentry replay --local` runs it, with the demo's settings."""
    replayed = replay_local(settings.project, stage, event, settings.env(stage, HANDLER))
    sys.stdout.write(replayed.log)
    return replayed.answer


def _drift(ec2: Any, sqs: Any, queue_url: str, group_id: str, logs: Logs, settings: DemoSettings) -> int:
    """Act two: an approved baseline, an approved rule deleted with no event, and the sweep putting it back."""
    with tempfile.TemporaryDirectory(prefix="sg-sentry-demo-") as folder:
        # The demo leaves chalicelib/baseline.json alone: its baseline lives in a temporary file.
        path = Path(folder) / "baseline.json"
        scope = Settings.from_env(settings.env("dev", SWEEP)).scope
        print("\n6. `sentry snapshot`: the group's rules now become its approved baseline:")
        write(snapshot(SecurityGroups(ec2, GroupCache()), scope, REGION), path)
        print(_indent(path.read_text(), "   "))

        print("\n7. Someone deletes the approved HTTPS rule, and EventBridge never delivers the event:")
        https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[https])
        _print_rules(ec2, group_id, "   rules now")

        print("\n8. [AWS in production, every 15 minutes] the schedule invokes the sweep function:")
        with logs.of("8"):
            # What the schedule's function (app.scheduled_sweep) runs, with the demo's settings and baseline.
            answer = scheduled_round(settings.env("dev", SWEEP, SENTRY_BASELINE_FILE=str(path)))
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


def _organization(sqs: Any, queue_url: str, logs: Logs, settings: DemoSettings) -> int:
    """Act three: a developer in another account of the organization, and the central deployment reverting it."""
    central = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    organizations = boto3.client("organizations", region_name=REGION)
    organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    joined = organizations.create_account(AccountName="developers", Email="developers@example.com")
    member = joined["CreateAccountStatus"]["AccountId"]
    print(f"\n11. This account ({central}) creates an organization, {organization_id}, and an account in it:")
    for account in organizations.list_accounts()["Accounts"]:
        print(f"   - {account['Id']} ({account['Name']}), {account['Status']}")
    print(f"   It runs the central deployment, the {ORG_STAGE} stage (SENTRY_ACCOUNTS=*: every active account")
    print("   of the organization is guarded). Before deploying it, the operator creates what the stage names:")
    made = prepare_central(settings.project.root, ORG_STAGE, REGION, organization_id)
    print("   " + ", ".join(f"{kind} {name}" for kind, name in made.items()) + ";")
    print("   and lets the organization's accounts put events on this account's default bus.")

    print(f"\n12. [AWS in production, the StackSet] templates/member.json becomes a stack in {member}/{MEMBER_REGION}")
    print("   (here moto's CloudFormation creates it):")
    admin = in_account(member, MEMBER_REGION)  # the management account's way in: the role Organizations made
    roles = central_role_arns(settings.project.root, ORG_STAGE, central)
    stack = create_member_stack(admin, Central(central, REGION, organization_id, roles), role_region=MEMBER_REGION)
    print(f"   - rule {stack['ForwardingRuleArn'].rsplit('/', 1)[-1]}: the sentry's pattern, to the central")
    print(f"     bus arn:aws:events:{REGION}:{central}:event-bus/default")
    print(f"   - role {stack['MemberRoleArn']}: EC2 security groups only, for the {ORG_STAGE} stage's")
    print(f"     function roles (sg-sentry-{ORG_STAGE}-*) in {organization_id}, in sessions named sg-sentry-*")

    ec2 = admin.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(
        GroupName="build-agents",
        Description="the developers' build agents",
        VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "sg-sentry", "Value": "guard"}]}],
    )["GroupId"]
    where = f"{member}/{MEMBER_REGION}"
    print(f"\n13. A developer in account {member} opens SSH to the world on {group_id} (build-agents, tagged")
    print(f"   sg-sentry=guard) in {MEMBER_REGION}:")
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    params = {"GroupId": group_id, "IpPermissions": [ssh]}
    _, created = cloudtrail.apply(ec2, "AuthorizeSecurityGroupIngress", **params)
    _print_rules(ec2, group_id, "   rules before the sentry acts", where)

    print("\n14. [AWS in production] the member's CloudTrail records the call; its rule forwards the event to")
    print("   the central bus, which delivers it to the handler with the member's account and region:")
    # Dana signed in an hour ago.
    developer = cloudtrail.assumed_role("developer", "dana", account=member, created=_now(timedelta(hours=-1)))
    record = cloudtrail.record(
        "AuthorizeSecurityGroupIngress",
        params,
        created,
        region=MEMBER_REGION,
        identity=developer,
        account=member,
        event_time=_now(),
    )
    event = _delivered(cloudtrail.eventbridge(record))

    print(f"\n15. The central handler runs as `sentry replay --local --stage {ORG_STAGE}` runs it:")
    with logs.of("15"):
        answer = _replay(settings, ORG_STAGE, event)
    print(f"   the handler answered {json.dumps(answer)}")
    sessions = _sessions(member)
    print(f"   {member}'s CloudTrail shows the sentry's AssumeRole (moto's STS recorded it):")
    for role, session in sessions:
        print(f"   - role {role}, session {session}")
    _print_rules(ec2, group_id, "\n16. Rules after", where)

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    if not messages:
        print("   no notification arrived", file=sys.stderr)
        return 1
    envelope = json.loads(messages[0]["Body"])
    print(f"\n17. [AWS in production] SNS emails the report, naming the account:\n   Subject: {envelope['Subject']}\n")
    print(_indent(json.loads(envelope["Message"])["text"], "   | "))
    if any(rule.get("CidrIpv4") == "0.0.0.0/0" for rule in _rules(ec2, group_id)):
        print(f"SSH is still open in {where}: the demo failed", file=sys.stderr)
        return 1
    if (f"arn:aws:iam::{member}:role/sg-sentry-member", f"sg-sentry-{event['detail']['eventID']}") not in sessions:
        print(f"the sentry did not act in {member} through its member role: the demo failed", file=sys.stderr)
        return 1
    print(f"SSH to 0.0.0.0/0 is gone in {where}, reverted by the central deployment through the member role.")
    return 0


def _sessions(account: str) -> list[tuple[str, str]]:
    """The role sessions opened in `account` other than the demo's own (moto's STS, in this process)."""
    from moto.sts.models import sts_backends

    return [
        (role.role_arn, role.session_name)
        for role in sts_backends[account]["aws"].assumed_roles
        if not role.role_arn.endswith(f":role/{ADMIN_ROLE}")
    ]


def _rules(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [rule for rule in rules["SecurityGroupRules"] if not rule["IsEgress"]]


def _print_rules(ec2: Any, group_id: str, title: str, where: str = "") -> None:
    print(f"{title} (ingress of {group_id}{' in ' + where if where else ''}):")
    if not _rules(ec2, group_id):
        print("   (none)")
    for rule in _rules(ec2, group_id):
        # In the sentry's own words, as its reports write a rule.
        print(f"   - {read_security_group_rule(rule)} [{rule['SecurityGroupRuleId']}]")


def _delivered(event: dict[str, Any]) -> dict[str, Any]:
    """Print the whole event, then deliver what was printed: the handler gets exactly the text shown."""
    text = _json(event, "   ")
    print("   " + text)
    delivered: dict[str, Any] = json.loads(text)
    return delivered


def _json(value: Any, indent: str, column: int = 0) -> str:
    """`value` as JSON for a reader: an object or array on one line when it fits in WIDTH, else a member a line."""
    flat = json.dumps(value)
    if not isinstance(value, dict | list) or not value or max(column, len(indent)) + len(flat) <= WIDTH:
        return flat
    inner = indent + "  "
    if isinstance(value, list):
        members = [inner + _json(item, inner) for item in value]
        return "[\n" + ",\n".join(members) + f"\n{indent}]"
    members = [f"{inner}{json.dumps(key)}: " for key in value]
    members = [name + _json(item, inner, len(name)) for name, item in zip(members, value.values(), strict=True)]
    return "{\n" + ",\n".join(members) + f"\n{indent}}}"


def _now(offset: timedelta = timedelta()) -> str:
    """The demo's clock (plus `offset`) as CloudTrail writes eventTime: a call is stamped when it is made."""
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M:%SZ")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


if __name__ == "__main__":
    raise SystemExit(main())
