"""The `sentry` command: setup, doctor and what replay reads, against moto in this process (replay: test_cli_replay)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner, Result
from moto import mock_aws

from app import SECURITY_GROUP_CHANGES
from localaws.rehearse import project_copy
from sentrycli.doctor import TITLES, Doctor, logs_management_writes
from sentrycli.doctor.topic import check_topic
from sentrycli.main import cli
from sentrycli.project import Project
from tests.conftest import load_event
from tests.functional.conftest import REGION

CHECKS = TITLES


@pytest.fixture
def project() -> Iterator[Path]:
    with project_copy() as path:
        yield path


def sentry(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project-dir", str(project), *args, "--region", REGION])


def marks(result: Result) -> dict[str, str]:
    """Check title -> ✓ or ✗, from doctor's output."""
    found = {}
    for line in result.output.splitlines():
        for title in CHECKS:
            if line[2:].startswith(title + ":"):
                found[title] = line[0]
    return found


# --- setup ------------------------------------------------------------------


def test_setup_creates_the_topic_and_writes_only_what_it_must(project: Path) -> None:
    config_before = (project / ".chalice" / "config.json").read_text()
    policy_before = (project / ".chalice" / "policy-dev.json").read_text()
    with mock_aws():
        result = sentry(project, "setup", "--email", "secops@example.com")
        again = sentry(project, "setup", "--email", "SecOps@example.com")
        sns = boto3.client("sns", region_name=REGION)
        (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]

    assert result.exit_code == 0 and again.exit_code == 0, result.output + again.output
    assert topic.endswith(":sg-sentry-dev")
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "secops@example.com")]
    config = (project / ".chalice" / "config.json").read_text()
    assert json.loads(config)["stages"]["dev"]["environment_variables"]["SENTRY_TOPIC_ARN"] == topic
    # The one line added, after the stage's last variable; not another character changed.
    assert config.replace(f',\n        "SENTRY_TOPIC_ARN": "{topic}"', "", 1) == config_before
    policy = (project / ".chalice" / "policy-dev.json").read_text()
    (publish,) = [s for s in json.loads(policy)["Statement"] if s["Sid"] == "PublishReports"]
    assert publish["Resource"] == topic  # scoped to exactly this topic
    assert policy.replace(f'"Resource": "{topic}"', '"Resource": "arn:aws:sns:*:*:sg-sentry*"') == policy_before
    assert f"✓ topic {topic}" in result.output
    assert "already names the topic" in again.output and "✓ wrote" not in again.output


CHAT = f"arn:aws:sns:{REGION}:123456789012:sg-sentry-chat"


def test_setup_again_after_the_stage_names_a_chat_topic_lets_the_stage_publish_to_both(project: Path) -> None:
    config_path, policy_path = project / ".chalice" / "config.json", project / ".chalice" / "policy-dev.json"
    policy_before = policy_path.read_text()
    with mock_aws():
        assert sentry(project, "setup", "--email", "secops@example.com").exit_code == 0
        # The user sets the chat topic in the stage, after its last variable (SENTRY_TOPIC_ARN, setup's).
        config = config_path.read_text()
        config_path.write_text(
            config.replace('"\n      }', f'",\n        "SENTRY_CHAT_TOPIC_ARN": "{CHAT}"\n      }}', 1)
        )
        configured = config_path.read_text()
        result = sentry(project, "setup", "--email", "secops@example.com")
        policy = policy_path.read_text()
        again = sentry(project, "setup", "--email", "secops@example.com")
        (topic,) = [t["TopicArn"] for t in boto3.client("sns", region_name=REGION).list_topics()["Topics"]]

    assert json.loads(configured)["stages"]["dev"]["environment_variables"]["SENTRY_CHAT_TOPIC_ARN"] == CHAT
    assert result.exit_code == 0 and again.exit_code == 0, result.output + again.output
    (publish,) = [s for s in json.loads(policy)["Statement"] if s["Sid"] == "PublishReports"]
    assert publish["Resource"] == [topic, CHAT]
    assert policy.replace(f'"Resource": ["{topic}", "{CHAT}"]', '"Resource": "arn:aws:sns:*:*:sg-sentry*"') == (
        policy_before
    )
    assert config_path.read_text() == configured  # config.json named the topic already
    assert f"✓ wrote {policy_path}" in result.output and f"✓ {config_path} already names the topic" in result.output
    # Run again: nothing to change, nothing written.
    assert policy_path.read_text() == policy and "✓ wrote" not in again.output


@pytest.mark.parametrize(
    ("chat", "message"),
    [
        ("sg-sentry-chat", "is 'sg-sentry-chat', not an SNS topic ARN"),
        (f"arn:aws:sns:{REGION}:123456789012:sg-sentry-dev", "the topic for email: chat needs a topic of its own"),
    ],
    ids=["not-an-arn", "the-same-topic"],
)
def test_setup_refuses_a_chat_topic_it_cannot_scope_and_changes_nothing(project: Path, chat: str, message: str) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["SENTRY_CHAT_TOPIC_ARN"] = chat
    config_path.write_text(json.dumps(config))
    files = {path: path.read_bytes() for path in (project / ".chalice").iterdir()}
    with mock_aws():
        result = sentry(project, "setup", "--email", "secops@example.com")
        sns = boto3.client("sns", region_name=REGION)
        subscriptions = [
            s
            for t in sns.list_topics()["Topics"]
            for s in sns.list_subscriptions_by_topic(TopicArn=t["TopicArn"])["Subscriptions"]
        ]
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert "SENTRY_CHAT_TOPIC_ARN of stage dev" in result.output and "nothing was written" in result.output
    assert subscriptions == []
    assert {path: path.read_bytes() for path in (project / ".chalice").iterdir()} == files


# config.json and a policy as a person might lay them out: setup changes the one value in each, nothing else.
HAND_CONFIG = """{
   "version":"2.0", "app_name" : "sg-sentry",
   "stages" : {
\t"dev" : { "iam_policy_file" : "policy-dev.json",
\t\t"environment_variables" : {"SENTRY_MODE": "lockdown",  "SENTRY_GROUP_TAG":"sg-sentry=guard"}
\t},
\t"staging" : {
\t\t"environment_variables" : {
\t\t\t"SENTRY_TOPIC_ARN" : "arn:aws:sns:eu-west-1:123456789012:old-topic"
\t\t}, "iam_policy_file" : "policy-dev.json"
\t}
   }
}"""
HAND_POLICY = """{"Version": "2012-10-17",
 "Statement": [
  {"Sid": "RevokeRules", "Effect": "Allow",
   "Action": ["ec2:RevokeSecurityGroupIngress","ec2:RevokeSecurityGroupEgress"],
   "Resource": "arn:aws:ec2:*:*:security-group/*"},
  {"Sid":"PublishReports","Effect":"Allow","Action":"sns:Publish","Resource":["arn:aws:sns:*:*:sg-sentry*"]}
 ]
}
"""
# What setup changes in HAND_CONFIG, per stage: (the text before, the text after; <topic> is the topic's ARN).
CHANGES = {
    "dev": ('"sg-sentry=guard"}', '"sg-sentry=guard",  "SENTRY_TOPIC_ARN":"<topic>"}'),
    "staging": ('"arn:aws:sns:eu-west-1:123456789012:old-topic"', '"<topic>"'),
    "prod": (
        '"policy-dev.json"\n\t}\n',
        '"policy-dev.json"\n\t},\n\t"prod" : {\n\t\t"iam_policy_file": "policy-prod.json",\n'
        '\t\t"environment_variables": {\n\t\t\t"SENTRY_TOPIC_ARN": "<topic>"\n\t\t}\n\t}\n',
    ),
}
POLICY_CHANGE = ('"Resource":["arn:aws:sns:*:*:sg-sentry*"]', '"Resource":"<topic>"')


def changed(text: str, change: tuple[str, str], topic: str) -> str:
    before, after = change
    assert text.count(before) == 1
    return text.replace(before, after.replace("<topic>", topic))


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"], ids=["insert", "replace", "new-stage"])
def test_setup_changes_one_value_in_hand_laid_out_files_and_no_other_character(project: Path, stage: str) -> None:
    chalice = project / ".chalice"
    (chalice / "config.json").write_text(HAND_CONFIG)
    (chalice / "policy-dev.json").write_text(HAND_POLICY)
    with mock_aws():
        result = sentry(project, "setup", "--email", "secops@example.com", "--stage", stage, "--create-stage")
        written = {path.name: path.read_text() for path in chalice.iterdir()}
        again = sentry(project, "setup", "--email", "secops@example.com", "--stage", stage)
        (topic,) = [t["TopicArn"] for t in boto3.client("sns", region_name=REGION).list_topics()["Topics"]]

    assert result.exit_code == 0, result.output
    assert written["config.json"] == changed(HAND_CONFIG, CHANGES[stage], topic)
    if stage == "prod":  # a policy of its own, copied from dev's text; dev's is left alone
        assert written["policy-prod.json"] == changed(HAND_POLICY, POLICY_CHANGE, topic)
        assert written["policy-dev.json"] == HAND_POLICY
    else:
        assert written["policy-dev.json"] == changed(HAND_POLICY, POLICY_CHANGE, topic)
    # Run again: nothing to change, nothing written.
    assert again.exit_code == 0, again.output
    assert {path.name: path.read_text() for path in chalice.iterdir()} == written
    assert "✓ wrote" not in again.output


def test_setup_for_a_new_stage_gives_it_a_policy_of_its_own(project: Path) -> None:
    with mock_aws():
        refused = sentry(project, "setup", "--email", "secops@example.com", "--stage", "prod")
        result = sentry(project, "setup", "--email", "secops@example.com", "--stage", "prod", "--create-stage")
    assert refused.exit_code != 0 and "pass --create-stage to add it" in refused.output
    assert result.exit_code == 0, result.output
    stage = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["prod"]
    assert stage["iam_policy_file"] == "policy-prod.json"
    assert stage["environment_variables"]["SENTRY_TOPIC_ARN"].endswith(":sg-sentry-prod")
    policy = json.loads((project / ".chalice" / "policy-prod.json").read_text())
    assert {s["Sid"] for s in policy["Statement"]} >= {"RevokeRules", "PublishReports"}


def test_setup_with_a_bad_address_says_so_and_changes_nothing(project: Path) -> None:
    before = (project / ".chalice" / "config.json").read_bytes()
    with mock_aws():
        result = sentry(project, "setup", "--email", "not-an-address")
        topics = boto3.client("sns", region_name=REGION).list_topics()["Topics"]
    assert result.exit_code != 0
    assert "'not-an-address' is not an email address" in result.output
    assert topics == [] and (project / ".chalice" / "config.json").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stage", "../x", "--create-stage"), "'../x' is not a stage name"),
        (("--topic-name", "alerts.fifo.bad name"), "is not a topic name"),
    ],
    ids=["stage-path", "topic-name"],
)
def test_setup_refuses_bad_names_before_touching_aws(project: Path, args: tuple[str, ...], message: str) -> None:
    files = {path: path.read_bytes() for path in (project / ".chalice").iterdir()}
    with mock_aws():
        result = sentry(project, "setup", "--email", "secops@example.com", *args)
        topics = boto3.client("sns", region_name=REGION).list_topics()["Topics"]
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert topics == []
    assert {path: path.read_bytes() for path in (project / ".chalice").iterdir()} == files


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.json", b'{"stages": {"dev": {},}}', "is not valid JSON (line 1, column 22)"),
        ("policy-dev.json", b'{\n  "Statement": [\n    {"Sid" "x"}]}', "is not valid JSON (line 3, column 12)"),
        ("policy-dev.json", b'{\n  "Sid": "caf\xe9"}', "is not UTF-8 text (line 2, column 14)"),
        ("config.json", b'{"stages": {"dev": []}}', "cannot be edited in place: stages.dev is not an object; nothing"),
    ],
    ids=["config", "policy", "not-utf-8", "not-an-object"],
)
def test_setup_names_a_file_it_cannot_edit_and_writes_nothing(
    project: Path, name: str, content: bytes, message: str
) -> None:
    (project / ".chalice" / name).write_bytes(content)
    files = {path: path.read_bytes() for path in (project / ".chalice").iterdir()}
    with mock_aws():
        result = sentry(project, "setup", "--email", "secops@example.com")
        topics = boto3.client("sns", region_name=REGION).list_topics()["Topics"]
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{project / '.chalice' / name} {message}" in result.output
    assert topics == []
    assert {path: path.read_bytes() for path in (project / ".chalice").iterdir()} == files


def test_setup_outside_a_project_says_where_it_looked(tmp_path: Path) -> None:
    with mock_aws():
        result = sentry(tmp_path, "setup", "--email", "secops@example.com")
    assert result.exit_code != 0 and "config.json does not exist" in result.output


# --- doctor -----------------------------------------------------------------


def deploy_like_chalice(project: Path, stage: str = "dev") -> dict[str, Any]:
    """Everything doctor looks for, made directly in moto (chalice deploy itself is rehearsed in e2e)."""
    names = Project(project)
    s3, trail, ec2, iam, lam, events = (
        boto3.client(name, region_name=REGION) for name in ("s3", "cloudtrail", "ec2", "iam", "lambda", "events")
    )
    s3.create_bucket(Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    trail.create_trail(Name="management", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    trail.start_logging(Name="management")
    assert sentry(project, "setup", "--email", "secops@example.com", "--stage", stage).exit_code == 0
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(
        GroupName="web",
        Description="web",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "sg-sentry", "Value": "guard"}]}],
    )["GroupId"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=names.function_name(stage), AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="sentry", PolicyDocument=json.dumps(names.policy(stage)))
    function = lam.create_function(
        FunctionName=names.function_name(stage),
        Runtime="python3.13",
        Role=role["Arn"],
        Handler="app.on_security_group_change",
        Environment={"Variables": names.environment(stage)},
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    events.put_rule(Name=names.rule_name(stage), EventPattern=json.dumps(SECURITY_GROUP_CHANGES), State="ENABLED")
    rule_arn = events.describe_rule(Name=names.rule_name(stage))["Arn"]
    events.put_targets(Rule=names.rule_name(stage), Targets=[{"Id": "1", "Arn": function["FunctionArn"]}])
    lam.add_permission(
        FunctionName=function["FunctionName"],
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    # The sweep: a role and function of its own, on a schedule (as chalice deploy makes them).
    sweep_name = names.sweep_name(stage)
    sweep_role = iam.create_role(RoleName=sweep_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName=sweep_name, PolicyName="sentry", PolicyDocument=json.dumps(names.policy(stage)))
    sweep = lam.create_function(
        FunctionName=sweep_name,
        Runtime="python3.13",
        Role=sweep_role["Arn"],
        Handler="app.scheduled_sweep",
        Timeout=900,
        Environment={"Variables": names.environment(stage)},
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    events.put_rule(Name=f"{sweep_name}-event", ScheduleExpression="rate(15 minutes)", State="ENABLED")
    events.put_targets(Rule=f"{sweep_name}-event", Targets=[{"Id": "1", "Arn": sweep["FunctionArn"]}])
    return {"group": group, "role": role["RoleName"], "function": function, "sweep": sweep}


def test_doctor_on_an_empty_account_says_what_is_missing(project: Path) -> None:
    with mock_aws():
        result = sentry(project, "doctor")
    assert result.exit_code == 1
    assert marks(result) == {"configuration": "✓"} | {title: "✗" for title in CHECKS[1:]}
    for hint in (
        "no trail covers eu-west-1",
        "SENTRY_TOPIC_ARN is not set: run `sentry setup --email ADDRESS`",
        "not found: any group tagged sg-sentry=guard",
        "is not deployed: run `chalice deploy --stage dev`",
        "no rule targets sg-sentry-dev-on_security_group_change",
        "sg-sentry-dev-sweep is not deployed",
    ):
        assert hint in result.output
    assert "6 of 7 checks failed" in result.output


def test_doctor_passes_when_everything_is_in_place(project: Path) -> None:
    with mock_aws():
        deploy_like_chalice(project)
        result = sentry(project, "doctor")
    assert result.exit_code == 0, result.output
    assert set(marks(result).values()) == {"✓"} and len(marks(result)) == len(CHECKS)


def _stop_trail(project: Path, made: dict[str, Any]) -> None:
    boto3.client("cloudtrail", region_name=REGION).stop_logging(Name="management")


def _readonly_trail(project: Path, made: dict[str, Any]) -> None:
    boto3.client("cloudtrail", region_name=REGION).put_event_selectors(
        TrailName="management", EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]
    )


def _unsubscribe(project: Path, made: dict[str, Any]) -> None:
    sns = boto3.client("sns", region_name=REGION)
    for subscription in sns.list_subscriptions()["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def _untag(project: Path, made: dict[str, Any]) -> None:
    boto3.client("ec2", region_name=REGION).delete_tags(Resources=[made["group"]], Tags=[{"Key": "sg-sentry"}])


def _weaken_role(project: Path, made: dict[str, Any]) -> None:
    policy = Project(project).policy("dev")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "RevokeRules"]
    boto3.client("iam").put_role_policy(RoleName=made["role"], PolicyName="sentry", PolicyDocument=json.dumps(policy))


def _unschedule_the_sweep(project: Path, made: dict[str, Any]) -> None:
    boto3.client("events", region_name=REGION).disable_rule(Name=f"{made['sweep']['FunctionName']}-event")


def _weaken_the_sweeps_role(project: Path, made: dict[str, Any]) -> None:
    policy = Project(project).policy("dev")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "RestoreApprovedRules"]
    role = made["sweep"]["Role"].rsplit("/", 1)[-1]
    boto3.client("iam").put_role_policy(RoleName=role, PolicyName="sentry", PolicyDocument=json.dumps(policy))


def _disable_rule(project: Path, made: dict[str, Any]) -> None:
    boto3.client("events", region_name=REGION).disable_rule(Name=Project(project).rule_name("dev"))


def _publish_elsewhere(project: Path, made: dict[str, Any]) -> None:
    policy = Project(project).policy("dev")
    for statement in policy["Statement"]:
        if statement["Sid"] == "PublishReports":
            statement["Resource"] = "arn:aws:sns:eu-west-1:123456789012:some-other-topic"
    boto3.client("iam").put_role_policy(RoleName=made["role"], PolicyName="sentry", PolicyDocument=json.dumps(policy))


def _no_invoke_permission(project: Path, made: dict[str, Any]) -> None:
    boto3.client("lambda", region_name=REGION).remove_permission(
        FunctionName=made["function"]["FunctionName"], StatementId="events"
    )


def _rewrite_the_event(project: Path, made: dict[str, Any]) -> None:
    boto3.client("events", region_name=REGION).put_targets(
        Rule=Project(project).rule_name("dev"),
        Targets=[{"Id": "1", "Arn": made["function"]["FunctionArn"], "Input": "{}"}],
    )


@pytest.mark.parametrize(
    ("breakage", "title", "hint"),
    [
        (_stop_trail, "CloudTrail", "management is not logging"),
        (_readonly_trail, "CloudTrail", "does not log management write events"),
        (_unsubscribe, "SNS topic", "has no confirmed subscription"),
        (_untag, "guarded groups", "not found: any group tagged sg-sentry=guard"),
        (
            _weaken_role,
            "function and role",
            "does not allow ec2:RevokeSecurityGroupEgress on arn:aws:ec2:eu-west-1:",
        ),
        (_publish_elsewhere, "function and role", "does not allow sns:Publish on arn:aws:sns:eu-west-1:"),
        (_disable_rule, "EventBridge rule", "is DISABLED"),
        (_no_invoke_permission, "EventBridge rule", "may not invoke the function"),
        (_rewrite_the_event, "EventBridge rule", "rewrites the event"),
        (_unschedule_the_sweep, "sweep", "sg-sentry-dev-sweep: no enabled schedule invokes it"),
        (_weaken_the_sweeps_role, "sweep", "does not allow ec2:AuthorizeSecurityGroupEgress"),
    ],
    ids=[
        "trail-stopped",
        "trail-read-only",
        "no-subscription",
        "no-tagged-group",
        "role-too-weak",
        "publish-elsewhere",
        "rule-disabled",
        "no-invoke-permission",
        "event-rewritten",
        "sweep-unscheduled",
        "sweep-role-too-weak",
    ],
)
def test_doctor_fails_exactly_the_broken_check(project: Path, breakage: Any, title: str, hint: str) -> None:
    with mock_aws():
        made = deploy_like_chalice(project)
        breakage(project, made)
        result = sentry(project, "doctor")
    assert result.exit_code == 1
    assert {name for name, mark in marks(result).items() if mark == "✗"} == {title}
    assert hint in result.output


def test_doctor_fails_a_function_that_cannot_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto reports neither a failed state nor a reserved concurrency of 0: add them to what it answers.
    answered = Doctor.deployed.func

    def broken(doctor: Doctor) -> Any:
        return answered(doctor) | {
            "State": "Failed",
            "StateReason": "bad zip",
            "Concurrency": {"ReservedConcurrentExecutions": 0},
        }

    monkeypatch.setattr(Doctor, "deployed", property(broken))
    with mock_aws():
        deploy_like_chalice(project)
        result = sentry(project, "doctor")
    assert result.exit_code == 1
    assert "it is in a failed state (bad zip); its reserved concurrency is 0, so it never runs" in result.output


def test_doctor_asks_for_the_key_of_a_topic_encrypted_with_a_customer_managed_key(project: Path) -> None:
    with mock_aws():
        deploy_like_chalice(project)
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        sns = boto3.client("sns", region_name=REGION)
        (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
        sns.set_topic_attributes(TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue=key)
        result = sentry(project, "doctor")
    assert result.exit_code == 1
    assert {name for name, mark in marks(result).items() if mark == "✗"} == {"function and role", "sweep"}
    assert f"does not allow kms:Decrypt on {key}, kms:GenerateDataKey on {key}" in result.output


def test_doctor_judges_the_deployed_settings_and_says_when_config_json_differs(project: Path) -> None:
    with mock_aws():
        deploy_like_chalice(project)
        config_path = project / ".chalice" / "config.json"
        config = json.loads(config_path.read_text())
        config["stages"]["dev"]["environment_variables"]["SENTRY_MODE"] = "internet"  # not deployed
        config_path.write_text(json.dumps(config))
        result = sentry(project, "doctor")
    assert result.exit_code == 0, result.output
    assert "mode lockdown" in result.output and "config.json differs in SENTRY_MODE: redeploy" in result.output


def test_doctor_reports_a_bad_setting(project: Path) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["SENTRY_MODE"] = "paranoid"
    config_path.write_text(json.dumps(config))
    with mock_aws():
        result = sentry(project, "doctor")
    assert result.exit_code == 1 and "✗ configuration: invalid sg-sentry configuration: SENTRY_MODE" in result.output


@pytest.mark.parametrize(
    ("selectors", "writes"),
    [
        ({}, True),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, False),
        (
            {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]},
            True,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "NotEquals": ["false"]},
                        ]
                    }
                ]
            },
            False,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]},
                        ]
                    }
                ]
            },
            True,
        ),
        ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]}, False),
    ],
    ids=["default", "write-only", "no-management", "advanced", "advanced-read-only", "advanced-writes", "data-only"],
)
def test_which_trails_log_management_writes(selectors: dict[str, Any], writes: bool) -> None:
    assert logs_management_writes(selectors) is writes


def test_a_subscription_awaiting_confirmation_is_not_enough() -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic = "arn:aws:sns:eu-west-1:123456789012:sg-sentry-dev"
    with Stubber(sns) as stub:
        stub.add_response("get_topic_attributes", {"Attributes": {"TopicArn": topic}})
        stub.add_response(
            "list_subscriptions_by_topic",
            {
                "Subscriptions": [
                    {
                        "SubscriptionArn": "PendingConfirmation",
                        "Protocol": "email",
                        "Endpoint": "a@example.com",
                        "TopicArn": topic,
                        "Owner": "123456789012",
                    }
                ]
            },
        )
        doctor = Doctor(Project(Path(".")), "dev", REGION, lambda *_, **__: sns)
        doctor.__dict__["environment"] = {"SENTRY_TOPIC_ARN": topic, "SENTRY_GROUP_IDS": "*"}
        ok, detail = check_topic(doctor)
    assert not ok and detail == f"{topic} has no confirmed subscription (1 pending: confirm from the email)"


# --- replay -----------------------------------------------------------------


@pytest.mark.parametrize("content", ["[1, 2]", '{"detail": "x"}', '{"id": "1", "detail": {}}', "[]", "{"])
def test_replay_of_a_file_that_is_not_an_event_says_so(project: Path, tmp_path: Path, content: str) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text(content)
    result = sentry(project, "replay", str(junk))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "holds no CloudTrail record or EventBridge event" in result.output or "is not JSON" in result.output


def test_replay_with_an_unknown_stage_says_so(project: Path, tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(load_event("authorize_ingress_flat_ruleset.json")))
    result = sentry(project, "replay", str(record), "--stage", "nope")
    assert result.exit_code != 0 and "stage 'nope' is not in" in result.output
