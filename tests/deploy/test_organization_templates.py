"""An organization's templates: the member StackSet's (templates/member.json) and the central org stage's package.

Each is linted by cfn-lint and read for what the deployment relies on: the
members forward exactly the sentry's events to the central bus, which takes
them from the organization only; the member role trusts exactly the central
functions' roles and grants exactly the EC2 permissions declared; the sweep's
queue hands one message at a time to the worker and gives up after three
receives; and a single account's package holds none of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import SECURITY_GROUP_CHANGES
from chalicelib.adapters.baseline_table import ITEM_KEY, PLACE_KEY
from chalicelib.adapters.permissions import MEMBER, MEMBER_ACTIONS, Place, resources
from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE, SESSION_PREFIX
from chalicelib.usecases.fan_out import ATTEMPTS
from localaws.rehearse import project_copy
from sentrycli.bytecode import problems
from sentrycli.iampolicy import Need, differences, granted_actions, missing, statements
from sentrycli.package_org import deep_merged, package_org
from tests.deploy.test_package import CFN_LINT, alarms, by_function, by_queue, package, watched

ROOT = Path(__file__).resolve().parents[2]
MEMBER_TEMPLATE = ROOT / "templates" / "member.json"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
ORG_ENV = CONFIG["stages"]["org"]["environment_variables"]
CENTRAL_BUS = {"Fn::Sub": "arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/default"}
# AWS's advice for a queue feeding Lambda: a visibility timeout of at least six times the function's timeout.
VISIBILITY_PER_TIMEOUT = 6
FOURTEEN_DAYS = 14 * 24 * 3600


def member() -> dict[str, Any]:
    return json.loads(MEMBER_TEMPLATE.read_text())  # type: ignore[no-any-return]


def member_policy(template: dict[str, Any]) -> dict[str, Any]:
    (policy,) = template["Resources"]["MemberRole"]["Properties"]["Policies"]
    return policy["PolicyDocument"]  # type: ignore[no-any-return]


def parliament_findings(policy: dict[str, Any]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources
        from parliament import analyze_policy_string

    analyzed = analyze_policy_string(json.dumps(policy))
    return [f"{finding.issue}: {finding.detail}" for finding in analyzed.findings]


@pytest.fixture(scope="module")
def org_package() -> Iterator[Path]:
    """The org stage packaged once, as `make package-org` does: the folder with sam.json and deployment.zip."""
    with project_copy() as project:
        out = project / "out"
        package_org(project, out, dict(os.environ, AWS_DEFAULT_REGION="eu-west-1"))
        yield out


@pytest.fixture(scope="module")
def org(org_package: Path) -> dict[str, Any]:
    return json.loads((org_package / "sam.json").read_text())  # type: ignore[no-any-return]


def test_the_org_package_ships_checked_hash_bytecode_for_its_runtime(org_package: Path, org: dict[str, Any]) -> None:
    # As `make package` builds it (tests/deploy/test_bytecode.py proves what that bytecode does).
    (runtime,) = {r["Properties"]["Runtime"] for r in org["Resources"].values() if "Runtime" in r.get("Properties", {})}
    assert problems(org_package / "deployment.zip", runtime) == []
    with zipfile.ZipFile(org_package / "deployment.zip") as archive:
        assert f"chalice/__pycache__/app.{sys.implementation.cache_tag}.pyc" in archive.namelist()


@pytest.fixture(scope="module")
def linted(org: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """cfn-lint's findings ("RULE:message") in each template, and in a broken copy of each (the controls).

    One cfn-lint run for all four: most of a run is loading its schemas.
    """
    folder = tmp_path_factory.mktemp("lint")
    broken_member = member()
    broken_member["Resources"]["MemberRole"]["Properties"]["MaxSessionDuration"] = 60
    broken_org = json.loads(json.dumps(org))
    broken_org["Resources"]["SweepQueue"]["Properties"]["VisibilityTimeout"] = 50000
    written = {"org": org, "broken member": broken_member, "broken org": broken_org}
    paths = {"member": MEMBER_TEMPLATE} | {name: folder / f"{name.replace(' ', '-')}.json" for name in written}
    for name, template in written.items():
        paths[name].write_text(json.dumps(template))
    command = [CFN_LINT, "--format", "parseable", *map(str, paths.values())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode & 1 == 0, result.stderr  # 1: cfn-lint itself failed; 2, 4, 8: it found something
    findings: dict[str, list[str]] = {name: [] for name in paths}
    for line in result.stdout.splitlines():
        path, *_, rule, message = line.split(":", 6)
        (name,) = [name for name, named in paths.items() if str(named) == path]
        findings[name].append(f"{rule}:{message}")
    return findings


# The member template, deployed by a StackSet to every region of every member account.


def test_cfn_lint_accepts_the_member_template(linted: dict[str, list[str]]) -> None:
    assert linted["member"] == []


def test_cfn_lint_would_reject_a_broken_member_template(linted: dict[str, list[str]]) -> None:
    # The control: proof that cfn-lint reads this template, so the test above can fail.
    assert linted["broken member"] == ["E3034:60 is less than the minimum of 3600"]


def test_each_region_forwards_exactly_the_sentrys_events_to_the_central_bus() -> None:
    resources_ = member()["Resources"]
    rule = resources_["ForwardSecurityGroupChanges"]["Properties"]
    # The central function's own rule matches what arrives on its bus with this same pattern: none is lost.
    assert rule["EventPattern"] == SECURITY_GROUP_CHANGES
    assert (rule["EventBusName"], rule["State"]) == ("default", "ENABLED")
    (target,) = rule["Targets"]
    assert target["Arn"] == CENTRAL_BUS
    # An organization-wide bus policy lets in only events sent with a role of the sender's (EventBridge's rule).
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardingRole", "Arn"]}
    role = resources_["ForwardingRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}
    (policy,) = role["Policies"]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements(policy["PolicyDocument"])] == [
        ("Allow", "events:PutEvents", CENTRAL_BUS)
    ]


def test_the_central_bus_does_not_forward_to_itself() -> None:
    # The central account may be a member too: its home region's events are already on the central bus.
    template = member()
    assert template["Conditions"]["IsTheCentralBus"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "AWS::AccountId"}, {"Ref": "CentralAccountId"}]},
            {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "CentralRegion"}]},
        ]
    }
    assert template["Conditions"]["ForwardsEvents"] == {"Fn::Not": [{"Condition": "IsTheCentralBus"}]}
    for name in ("ForwardSecurityGroupChanges", "ForwardingRole"):
        assert template["Resources"][name]["Condition"] == "ForwardsEvents"


def test_the_member_role_is_created_once_per_account_with_the_name_the_central_stage_assumes() -> None:
    template = member()
    # IAM is global: a second region's stack creating the same role name would fail.
    assert template["Conditions"]["CreatesMemberRole"] == {
        "Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "RoleRegion"}]
    }
    role = template["Resources"]["MemberRole"]
    assert role["Condition"] == "CreatesMemberRole"
    assert role["Properties"]["RoleName"] == {"Ref": "MemberRoleName"}
    assert role["Properties"]["MaxSessionDuration"] == 3600
    name = ORG_ENV.get("SENTRY_MEMBER_ROLE", DEFAULT_MEMBER_ROLE)
    assert template["Parameters"]["MemberRoleName"]["Default"] == name
    org_policy = json.loads((ROOT / ".chalice" / CONFIG["stages"]["org"]["iam_policy_file"]).read_text())
    assumed = [s["Resource"] for s in statements(org_policy) if s["Action"] == "sts:AssumeRole"]
    assert assumed == [f"arn:aws:iam::*:role/{name}"]


def test_the_member_role_trusts_exactly_the_central_functions_roles_in_the_organization() -> None:
    template = member()
    assert template["Parameters"]["CentralRoleArns"]["Type"] == "CommaDelimitedList"
    (trust,) = template["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Effect"], trust["Action"]) == ("Allow", "sts:AssumeRole")
    assert trust["Principal"] == {"AWS": {"Ref": "CentralRoleArns"}}
    assert trust["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
        # The sentry names every session so (chalicelib/domain/accounts.py): CloudTrail shows its own changes.
        "StringLike": {"sts:RoleSessionName": SESSION_PREFIX + "*"},
    }


def test_the_member_role_grants_exactly_the_declared_ec2_permissions() -> None:
    policy = member_policy(member())
    assert missing([policy], MEMBER_ACTIONS) == []
    assert granted_actions(policy) == MEMBER_ACTIONS  # nothing more: no SNS, no logs, no other service
    needs = [Need(permission.action, permission.resource) for permission in resources(Place(), MEMBER)]
    assert differences(policy, needs) == []


@pytest.mark.parametrize(
    ("sid", "resource", "difference"),
    [
        ("RevokeRules", "*", "RevokeRules: ec2:RevokeSecurityGroupEgress on * is not needed"),
        (
            "DetachOpenGroups",
            "arn:aws:ec2:*:*:network-interface/*",
            "not granted: ec2:ModifyNetworkInterfaceAttribute on arn:aws:ec2:*:*:security-group/*",
        ),
    ],
    ids=["revoke-anywhere", "detach-without-groups"],
)
def test_a_member_resource_wider_or_narrower_than_declared_is_a_difference(
    sid: str, resource: str, difference: str
) -> None:
    # The control: proof that the test above judges the member role's resources, so it can fail.
    policy = member_policy(member())
    for statement in policy["Statement"]:
        if statement["Sid"] == sid:
            statement["Resource"] = resource
    needs = [Need(permission.action, permission.resource) for permission in resources(Place(), MEMBER)]
    assert any(difference in line for line in differences(policy, needs))


def test_parliament_finds_nothing_in_the_member_role_policy() -> None:
    # policy-org.json is judged by test_policy.py, with every stage's policy.
    assert parliament_findings(member_policy(member())) == []


def test_every_member_parameter_is_labelled_and_the_organization_id_reads_as_centrally() -> None:
    template = member()
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    listed = [name for group in groups for name in group["Parameters"]]
    assert sorted(listed) == sorted(template["Parameters"])
    overlay = json.loads((ROOT / ".chalice" / "merge-template-org.json").read_text())
    pattern = overlay["Parameters"]["OrganizationId"]["AllowedPattern"]
    assert template["Parameters"]["OrganizationId"]["AllowedPattern"] == pattern


# The central deployment: `chalice package --stage org` with both merge templates.


def test_cfn_lint_accepts_the_packaged_org_template(linted: dict[str, list[str]]) -> None:
    # Warnings count too: an unneeded DependsOn, for one, is a warning (W3005).
    assert linted["org"] == []


def test_cfn_lint_would_reject_a_broken_org_template(linted: dict[str, list[str]]) -> None:
    # The control: proof that cfn-lint reads the org template, so the test above can fail.
    assert linted["broken org"] == ["E3034:50000 is greater than the maximum of 43200"]


def test_the_central_bus_takes_events_from_the_organization_only(org: dict[str, Any]) -> None:
    # And only what the sentry's pattern matches: the security account's bus is no open door for other events.
    bus = org["Resources"]["OrganizationEventsBusPolicy"]
    assert bus["Type"] == "AWS::Events::EventBusPolicy"
    assert bus["Properties"]["EventBusName"] == "default"
    assert bus["Properties"]["Statement"] == {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"},
        "Condition": {
            "StringEquals": {
                "aws:PrincipalOrgID": {"Ref": "OrganizationId"},
                "events:source": "aws.ec2",
                "events:detail-type": SECURITY_GROUP_CHANGES["detail-type"],
            }
        },
    }
    assert SECURITY_GROUP_CHANGES["source"] == ["aws.ec2"]
    assert set(org["Parameters"]) == {"AlertEmail", "ChatTopicName", "OrganizationId"}


def test_the_sweep_queue_outlasts_the_worker_and_gives_up_after_three_receives(org: dict[str, Any]) -> None:
    resources_ = org["Resources"]
    queue = resources_["SweepQueue"]["Properties"]
    assert queue["QueueName"] == ORG_ENV["SENTRY_SWEEP_QUEUE"]
    # A message is not handed to a second worker while the first may still be sweeping.
    assert queue["VisibilityTimeout"] >= VISIBILITY_PER_TIMEOUT * resources_["SweepWorker"]["Properties"]["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SweepDeadLetterQueue", "Arn"]},
        "maxReceiveCount": ATTEMPTS,  # the worker counts its place done on the last attempt
    }
    dead = resources_["SweepDeadLetterQueue"]
    assert dead["Type"] == "AWS::SQS::Queue"
    assert dead["Properties"] == {"MessageRetentionPeriod": FOURTEEN_DAYS, "SqsManagedSseEnabled": True}


def test_the_worker_takes_one_message_at_a_time_from_the_queue_once_it_exists(org: dict[str, Any]) -> None:
    worker = org["Resources"]["SweepWorker"]
    properties = worker["Properties"]
    assert properties["Handler"] == "app.sweep_worker"
    # One account-region per invocation: minutes at most, far from Lambda's 15 (BENCHMARKS.md).
    assert (properties["Timeout"], properties["MemorySize"]) == (300, 512)
    assert properties["Role"] == {"Fn::GetAtt": ["SweepWorkerRole", "Arn"]}
    ((name, event),) = properties["Events"].items()
    assert event["Type"] == "SQS"
    assert event["Properties"]["BatchSize"] == 1
    queue = ORG_ENV["SENTRY_SWEEP_QUEUE"]
    arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{queue}"
    assert event["Properties"]["Queue"] == {"Fn::Sub": arn}
    # SAM gives the function the DependsOn, and the event source mapping refers to the function: Lambda
    # would refuse a mapping to a queue that does not exist yet.
    assert worker["DependsOn"] == ["SweepQueue"]
    assert properties["Environment"]["Variables"]["SENTRY_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
    publish = org["Resources"]["SweepWorkerPublishPolicy"]["Properties"]
    assert publish["Roles"] == [{"Ref": "SweepWorkerRole"}]
    assert [(s["Action"], s["Resource"]) for s in publish["PolicyDocument"]["Statement"]] == [
        ("sns:Publish", {"Ref": "AlertsTopic"})
    ]
    # In an organization the worker changes rules, not the scheduled sweep: the handler ignores its changes.
    handler = org["Resources"]["OnSecurityGroupChange"]["Properties"]["Environment"]["Variables"]
    assert handler["SENTRY_SWEEP_ROLE_ARN"] == {"Fn::GetAtt": ["SweepWorkerRole", "Arn"]}
    assert name == "SweepWorkerSqsEventSource"


def test_the_baseline_table(org: dict[str, Any]) -> None:
    table = org["Resources"]["BaselineTable"]
    # The baseline is what the sweep restores: deleting the stack or replacing the table keeps it.
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["TableName"] == ORG_ENV["SENTRY_BASELINE_TABLE"]
    assert properties["KeySchema"] == [
        {"AttributeName": PLACE_KEY, "KeyType": "HASH"},
        {"AttributeName": ITEM_KEY, "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in properties["AttributeDefinitions"]} == {
        (PLACE_KEY, "S"),
        (ITEM_KEY, "S"),
    }
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    # The sweep rounds' items carry "expires" (chalicelib/adapters/sweep_rounds.py): DynamoDB deletes them.
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}


def test_the_central_functions_roles_carry_the_org_policy_and_assume_roles_only_in_the_organization(
    org: dict[str, Any],
) -> None:
    resources_ = org["Resources"]
    lambda_roles = sorted(
        name
        for name, resource in resources_.items()
        if resource["Type"] == "AWS::IAM::Role"
        and resource["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "lambda.amazonaws.com"}
    )
    assert lambda_roles == ["OnSecurityGroupChangeRole", "SweepRole", "SweepWorkerRole"]
    shipped = json.loads((ROOT / ".chalice" / "policy-org.json").read_text())
    for name in lambda_roles:
        (policy,) = resources_[name]["Properties"]["Policies"]
        assert policy["PolicyDocument"] == shipped
    fence = resources_["MemberRolesOfTheOrganizationOnly"]["Properties"]
    assert sorted(role["Ref"] for role in fence["Roles"]) == lambda_roles
    (deny,) = fence["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Action"], deny["Resource"]) == ("Deny", "sts:AssumeRole", "*")
    assert deny["Condition"] == {"StringNotEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    # The member template's CentralRoleArns: exactly these roles.
    joined = org["Outputs"]["CentralRoleArns"]["Value"]["Fn::Join"]
    assert joined[0] == ","
    assert [value["Fn::GetAtt"] for value in joined[1]] == [[name, "Arn"] for name in lambda_roles]


def test_the_org_template_keeps_the_single_accounts_additions(org: dict[str, Any]) -> None:
    resources_ = org["Resources"]
    for name in ("AlertsTopic", "FailedEventsQueue", "OnSecurityGroupChangeInvokeConfig", "SweepInvokeConfig"):
        assert name in resources_
    handler = resources_["OnSecurityGroupChange"]["Properties"]
    assert handler["Events"]["OnSecurityGroupChangeEvent"]["Properties"]["Pattern"] == SECURITY_GROUP_CHANGES
    assert handler["Environment"]["Variables"]["SENTRY_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
    assert handler["Environment"]["Variables"]["SENTRY_ACCOUNTS"] == "*"  # the stage's own settings survive
    assert resources_["Sweep"]["Properties"]["Environment"]["Variables"]["SENTRY_TOPIC_ARN"] == {"Ref": "AlertsTopic"}


def test_the_org_template_alarms_on_the_sweep_workers_errors_and_its_dead_letters_too(org: dict[str, Any]) -> None:
    found = {name: watched(properties) for name, properties in alarms(org).items()}
    assert found["SweepWorkerErrorsAlarm"] == ("AWS/Lambda", "Errors", by_function("SweepWorker"))
    queue = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", by_queue("SweepDeadLetterQueue"))
    assert found["SweepDeadLettersAlarm"] == queue
    # The single account's alarms come along: failures, both functions' errors, failed events.
    assert {"FailuresAlarm", "OnSecurityGroupChangeErrorsAlarm", "SweepErrorsAlarm", "FailedEventsAlarm"} < set(found)
    for name in ("SweepWorkerErrorsAlarm", "SweepDeadLettersAlarm"):
        properties = org["Resources"][name]["Properties"]
        assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": "AlertsTopic"}]
    assert org["Resources"]["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


def test_merging_takes_mappings_key_by_key_and_anything_else_whole() -> None:
    base = {"A": {"x": 1, "list": [1, 2]}, "B": "kept"}
    overlay = {"A": {"y": 2, "list": [3]}, "C": {"Ref": "new"}}
    assert deep_merged(base, overlay) == {"A": {"x": 1, "y": 2, "list": [3]}, "B": "kept", "C": {"Ref": "new"}}
    assert base == {"A": {"x": 1, "list": [1, 2]}, "B": "kept"}  # neither input changes


# A single account's deployment changes nothing.


def test_a_single_accounts_package_has_no_worker_queue_table_or_bus_policy(tmp_path: Path) -> None:
    with project_copy() as project:
        package(project, tmp_path / "dev", "--merge-template", str(project / ".chalice" / "merge-template.json"))
    template = json.loads((tmp_path / "dev" / "sam.json").read_text())
    resources_ = template["Resources"]
    assert "SweepWorker" not in resources_ and "SweepWorkerRole" not in resources_
    kinds = {resource["Type"] for resource in resources_.values()}
    assert not kinds & {"AWS::DynamoDB::Table", "AWS::Events::EventBusPolicy"}
    assert [name for name, r in resources_.items() if r["Type"] == "AWS::SQS::Queue"] == ["FailedEventsQueue"]
    assert not any(
        "Events" in r["Properties"] and "SQS" in json.dumps(r["Properties"]["Events"]) for r in resources_.values()
    )
    assert set(template["Parameters"]) == {"AlertEmail", "ChatTopicName"}
