"""`chalice package`: a CloudFormation template cfn-lint accepts, with the merge template's additions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app import SECURITY_GROUP_CHANGES
from chalicelib.adapters.log import DIMENSION_SETS, NAMESPACE, Metrics, embedded
from chalicelib.domain.metrics import Measures, Metric, counted
from localaws.rehearse import project_copy

CHALICE = str(Path(sys.executable).parent / "chalice")
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


def package(project: Path, out: Path, *args: str) -> None:
    env = dict(os.environ, AWS_DEFAULT_REGION="eu-west-1")
    command = [CHALICE, "--project-dir", str(project), "package", *args, str(out)]
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=300)


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CFN_LINT, str(template)], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def packaged() -> Iterator[tuple[Path, dict[str, Any]]]:
    with project_copy() as project:
        out = project / "out"
        package(project, out, "--merge-template", str(project / ".chalice" / "merge-template.json"))
        yield out, json.loads((out / "sam.json").read_text())


def test_cfn_lint_accepts_the_packaged_template(packaged: tuple[Path, dict[str, Any]]) -> None:
    out, _ = packaged
    result = cfn_lint(out / "sam.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_reject_a_broken_template(packaged: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    # The control: proof that cfn-lint reads this template, so the test above can fail.
    _, template = packaged
    broken = json.loads(json.dumps(template))
    broken["Resources"]["OnSecurityGroupChangeInvokeConfig"]["Properties"]["MaximumRetryAttempts"] = 7
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = cfn_lint(tmp_path / "broken.json")
    assert result.returncode != 0 and "greater than the maximum of 2" in result.stdout


def test_the_merge_template_adds_bounded_retries_a_failure_queue_and_the_topic(
    packaged: tuple[Path, dict[str, Any]],
) -> None:
    _, template = packaged
    resources = template["Resources"]
    # Lambda checks the destination permission when the config is created: the policy must exist first.
    assert resources["OnSecurityGroupChangeInvokeConfig"]["DependsOn"] == "OnSecurityGroupChangeDeliveryPolicy"
    invoke = resources["OnSecurityGroupChangeInvokeConfig"]["Properties"]
    assert invoke["FunctionName"] == {"Ref": "OnSecurityGroupChange"}
    assert invoke["MaximumRetryAttempts"] <= 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    assert resources["AlertsEmailSubscription"]["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    variables = resources["OnSecurityGroupChange"]["Properties"]["Environment"]["Variables"]
    assert variables["SENTRY_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
    assert variables["SENTRY_GROUP_TAG"] == "sg-sentry=guard"  # the stage's own settings survive the merge
    extra = resources["OnSecurityGroupChangeDeliveryPolicy"]["Properties"]
    assert extra["Roles"] == [{"Ref": "OnSecurityGroupChangeRole"}]
    granted = {(s["Action"], json.dumps(s["Resource"])) for s in extra["PolicyDocument"]["Statement"]}
    assert granted == {
        ("sns:Publish", json.dumps({"Ref": "AlertsTopic"})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["FailedEventsQueue", "Arn"]})),
    }
    event = resources["OnSecurityGroupChange"]["Properties"]["Events"]["OnSecurityGroupChangeEvent"]
    assert event["Properties"]["Pattern"] == SECURITY_GROUP_CHANGES


def test_the_merge_template_creates_a_chat_topic_only_when_named(packaged: tuple[Path, dict[str, Any]]) -> None:
    _, template = packaged
    resources = template["Resources"]
    # Empty (the default): no chat topic, no variable, no grant; a name: all three (cfn-lint above checks both).
    assert template["Parameters"]["ChatTopicName"]["Default"] == ""
    assert template["Conditions"]["WithChat"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ChatTopicName"}, ""]}]}
    assert resources["ChatTopic"]["Condition"] == "WithChat"
    assert resources["ChatTopic"]["Properties"]["TopicName"] == {"Ref": "ChatTopicName"}
    chat = {"Fn::If": ["WithChat", {"Ref": "ChatTopic"}, {"Ref": "AWS::NoValue"}]}
    for function in ("OnSecurityGroupChange", "Sweep"):
        assert resources[function]["Properties"]["Environment"]["Variables"]["SENTRY_CHAT_TOPIC_ARN"] == chat
    grant = resources["ChatPublishPolicy"]
    assert grant["Condition"] == "WithChat"
    assert grant["Properties"]["Roles"] == [{"Ref": "OnSecurityGroupChangeRole"}, {"Ref": "SweepRole"}]
    (statement,) = grant["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("sns:Publish", {"Ref": "ChatTopic"})
    assert template["Outputs"]["ChatTopicArn"]["Condition"] == "WithChat"


def test_the_sweep_runs_every_15_minutes_for_up_to_15_with_512_mb_and_reports_to_the_stack_topic(
    packaged: tuple[Path, dict[str, Any]],
) -> None:
    _, template = packaged
    resources = template["Resources"]
    sweep = resources["Sweep"]["Properties"]
    assert sweep["Events"]["SweepEvent"]["Properties"]["Schedule"] == "rate(15 minutes)"
    assert (sweep["Timeout"], sweep["MemorySize"]) == (900, 512)
    assert sweep["Environment"]["Variables"]["SENTRY_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
    # A failed sweep is not retried: the next one comes in 15 minutes, and a retry would report twice.
    assert resources["SweepInvokeConfig"]["Properties"]["MaximumRetryAttempts"] == 0
    publish = resources["SweepPublishPolicy"]["Properties"]
    assert publish["Roles"] == [{"Ref": "SweepRole"}]
    assert [s["Action"] for s in publish["PolicyDocument"]["Statement"]] == ["sns:Publish"]
    handler = resources["OnSecurityGroupChange"]["Properties"]
    # The event handler keeps its own, short timeout.
    assert handler["Timeout"] == 60
    # CloudFormation names the roles: the handler is told the sweep's, to ignore the sweep's own changes.
    assert handler["Environment"]["Variables"]["SENTRY_SWEEP_ROLE_ARN"] == {"Fn::GetAtt": ["SweepRole", "Arn"]}


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each alarm's properties, by its resource name."""
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def watched(properties: dict[str, Any]) -> tuple[str, str, str]:
    """What an alarm watches: namespace, metric, dimensions (as JSON, `[]` for none)."""
    return properties["Namespace"], properties["MetricName"], json.dumps(properties.get("Dimensions", []))


def by_function(name: str) -> str:
    return json.dumps([{"Name": "FunctionName", "Value": {"Ref": name}}])


def by_queue(name: str) -> str:
    return json.dumps([{"Name": "QueueName", "Value": {"Fn::GetAtt": [name, "QueueName"]}}])


def emitted() -> dict[str, Any]:
    """The metric directive a log line with metrics carries (the log adapter's own output)."""
    line = embedded(Metrics(Measures(counted(()), exposure=1.0), "lockdown", "123456789012"), datetime.now(UTC))
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    return directive  # type: ignore[no-any-return]


def test_alarms_on_failures_on_either_functions_errors_and_on_failed_events_notify_the_topic(
    packaged: tuple[Path, dict[str, Any]],
) -> None:
    _, template = packaged
    found = alarms(template)
    assert {name: watched(properties) for name, properties in found.items()} == {
        # The total over every mode and account: the empty dimension set of every line with metrics.
        "FailuresAlarm": (NAMESPACE, Metric.FAILED, "[]"),
        "OnSecurityGroupChangeErrorsAlarm": ("AWS/Lambda", "Errors", by_function("OnSecurityGroupChange")),
        "SweepErrorsAlarm": ("AWS/Lambda", "Errors", by_function("Sweep")),
        "FailedEventsAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", by_queue("FailedEventsQueue")),
    }
    directive = emitted()
    assert directive["Namespace"] == NAMESPACE and [] in directive["Dimensions"]
    assert {"Name": Metric.FAILED, "Unit": "Count"} in directive["Metrics"]
    # Chalice's names for the functions and the queue the stack holds.
    kinds = {name: template["Resources"][name]["Type"] for name in ("OnSecurityGroupChange", "Sweep")}
    assert kinds == {"OnSecurityGroupChange": "AWS::Serverless::Function", "Sweep": "AWS::Serverless::Function"}
    for properties in found.values():
        # Anything at all, once, is worth a message; no data (nothing failed, no invocation) is no alarm.
        assert (properties["Threshold"], properties["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert properties["TreatMissingData"] == "notBreaching"
        assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": "AlertsTopic"}]


def dashboard_body(template: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard's body, read as JSON, and the names its `${...}` substitute."""
    text = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", text)), set(re.findall(r"\$\{([^}]+)\}", text))


def test_the_dashboard_shows_the_exposure_window_reverts_per_day_and_failures(
    packaged: tuple[Path, dict[str, Any]],
) -> None:
    _, template = packaged
    body, substituted = dashboard_body(template)
    assert substituted <= set(template["Resources"]) | {"AWS::Region"}
    graphs = {widget["properties"]["title"]: widget["properties"] for widget in body["widgets"]}
    exposure, reverts, failures = graphs.values()
    assert [line[:2] for line in exposure["metrics"]] == [[NAMESPACE, Metric.EXPOSURE], [".", "."]]
    assert [line[-1]["stat"] for line in exposure["metrics"]] == ["p50", "p99"]
    assert (reverts["metrics"][0][:2], reverts["stat"], reverts["period"]) == (
        [NAMESPACE, Metric.REVERTED],
        "Sum",
        86400,
    )
    assert failures["metrics"][0][:2] == [NAMESPACE, Metric.FAILED]
    assert {line[3] for line in failures["metrics"][1:]} == {"OnSecurityGroupChange", "Sweep"}
    # The graphs' lines carry no dimensions: the totals, which every line with metrics emits.
    assert all(
        isinstance(line[2], dict) for line in [*exposure["metrics"], *reverts["metrics"], failures["metrics"][0]]
    )
    directive = emitted()
    assert () in DIMENSION_SETS and [] in directive["Dimensions"]
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert (units[Metric.EXPOSURE], units[Metric.REVERTED]) == ("Seconds", "Count")


def test_the_deployment_package_holds_no_dependencies(packaged: tuple[Path, dict[str, Any]]) -> None:
    out, _ = packaged
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names} == {"app.py", "chalicelib", "chalice"}
    # Any dependency would add megabytes (boto3 alone is over 10 MB); BENCHMARKS.md tracks the exact size.
    assert (out / "deployment.zip").stat().st_size < 200 * 1024


def test_terraform_format_and_its_known_limit(tmp_path: Path) -> None:
    with project_copy() as project:
        package(project, tmp_path / "tf", "--pkg-format", "terraform")
    config = json.loads((tmp_path / "tf" / "chalice.tf.json").read_text())
    rules = config["resource"]["aws_cloudwatch_event_rule"]
    (rule,) = [rule for rule in rules.values() if "event_pattern" in rule]
    assert json.loads(rule["event_pattern"]) == SECURITY_GROUP_CHANGES
    (schedule,) = [rule for rule in rules.values() if "schedule_expression" in rule]
    assert schedule["schedule_expression"] == "rate(15 minutes)"
    # Chalice names the rule without the app or stage (see README): two stages in one region collide.
    assert rule["name"] == "on_security_group_change-event"
