"""An organization's templates: the member StackSet's (templates/member.json).

It is linted by cfn-lint and read for what the deployment relies on: the
members forward exactly the sentry's events to the central bus; the member
role trusts exactly the central functions' roles and grants exactly the EC2
permissions declared.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from app import SECURITY_GROUP_CHANGES
from chalicelib.adapters.permissions import MEMBER, MEMBER_ACTIONS, Place, resources
from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE, SESSION_PREFIX
from sentrycli.iampolicy import Need, differences, granted_actions, missing, statements
from tests.deploy.test_package import CFN_LINT

ROOT = Path(__file__).resolve().parents[2]
MEMBER_TEMPLATE = ROOT / "templates" / "member.json"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
ORG_ENV = CONFIG["stages"]["org"]["environment_variables"]
CENTRAL_BUS = {"Fn::Sub": "arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/default"}


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
def linted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """cfn-lint's findings ("RULE:message") in each template, and in a broken copy of each (the controls).

    One cfn-lint run for all: most of a run is loading its schemas.
    """
    folder = tmp_path_factory.mktemp("lint")
    broken_member = member()
    broken_member["Resources"]["MemberRole"]["Properties"]["MaxSessionDuration"] = 60
    written = {"broken member": broken_member}
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


def test_every_member_parameter_is_labelled() -> None:
    template = member()
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    listed = [name for group in groups for name in group["Parameters"]]
    assert sorted(listed) == sorted(template["Parameters"])
