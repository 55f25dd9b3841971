"""`sentry doctor` on an organization's stage: one line per guarded account-region, against moto in this process.

The organization is built as an operator would: Organizations creates two
member accounts (with their OrganizationAccountAccessRole), the central org
stage is deployed as chalice deploy would (its three functions, each with
its role), and templates/member.json is deployed with CloudFormation in each
member account and region (the StackSet's work; moto's CloudFormation makes
its rule, forwarding role and member role), and in the central account's
second region (the management account, which a service-managed StackSet
does not cover). Each account has a trail per region. Then one thing is
broken at a time, and exactly the lines it concerns must fail.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import moto.iam.models
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import Result
from moto import mock_aws

from chalicelib.adapters.permissions import MEMBER_ACTIONS
from localaws.rehearse import project_copy
from sentrycli.doctor.accounts import AUDIT_ACTIONS, AUDIT_SESSION
from sentrycli.doctor.member_role import trust_problems
from sentrycli.project import Project
from tests.deploy.test_cli import deploy_like_chalice, marks, sentry
from tests.functional.conftest import REGION

STAGE = "org"
OTHER_REGION = "us-east-1"
REGIONS = (REGION, OTHER_REGION)
CENTRAL = "123456789012"  # moto's default account: the organization's management account, and the central one
MEMBER_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "member.json"
# A place's line: its mark, the account (and its name), the region.
PLACE_LINE = re.compile(r"^([✓✗]) (\d{12})(?: \([^)]*\))? in ([a-z0-9-]+): ")


@dataclass
class Organization:
    """The organization built in moto: its ID, the member accounts by name, the central functions' roles."""

    id: str
    members: dict[str, str]
    central_roles: list[str]

    @property
    def b(self) -> str:
        return self.members["B"]

    @property
    def c(self) -> str:
        return self.members["C"]


def admin(account: str, service: str, region: str = REGION) -> Any:
    """A client in `account` with an administrator's credentials there (the central account: the default's)."""
    if account == CENTRAL:
        return boto3.client(service, region_name=region)
    made = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=made["AccessKeyId"],
        aws_secret_access_key=made["SecretAccessKey"],
        aws_session_token=made["SessionToken"],
    )


def set_org_stage(project: Path, **env: str) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"][STAGE]["environment_variables"].update(env)
    config_path.write_text(json.dumps(config))


def deploy_the_worker(project: Path) -> str:
    """The sweep's worker, with a role of its own, as chalice deploy makes it for a stage with a sweep queue."""
    names = Project(project)
    iam, lam = boto3.client("iam"), boto3.client("lambda", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    name = names.worker_name(STAGE)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="sentry", PolicyDocument=json.dumps(names.policy(STAGE)))
    lam.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role["Arn"],
        Handler="app.sweep_worker",
        Timeout=300,
        Environment={"Variables": names.environment(STAGE)},
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    return str(role["Arn"])


def deploy_member_stack(account: str, region: str, organization_id: str, central_roles: list[str]) -> None:
    """templates/member.json in one account-region, as the StackSet deploys it (the member role in REGION)."""
    cloudformation = admin(account, "cloudformation", region)
    parameters = {
        "CentralAccountId": CENTRAL,
        "CentralRegion": REGION,
        "OrganizationId": organization_id,
        "CentralRoleArns": ",".join(central_roles),
        "RoleRegion": REGION,
    }
    cloudformation.create_stack(
        StackName="sg-sentry-member",
        TemplateBody=MEMBER_TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
    (stack,) = cloudformation.describe_stacks(StackName="sg-sentry-member")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack


def trail_in(account: str, region: str) -> None:
    """A trail of the region alone, logging (all management events: no selectors)."""
    s3, cloudtrail = admin(account, "s3", region), admin(account, "cloudtrail", region)
    bucket = f"trail-{account}-{region}"
    s3.create_bucket(
        Bucket=bucket,
        **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
    )
    cloudtrail.create_trail(Name=f"management-{region}", S3BucketName=bucket, IsMultiRegionTrail=False)
    cloudtrail.start_logging(Name=f"management-{region}")


def build_organization(project: Path) -> Organization:
    set_org_stage(project, SENTRY_REGIONS=",".join(REGIONS))
    made = deploy_like_chalice(project, STAGE)
    central_roles = [made["function"]["Role"], made["sweep"]["Role"], deploy_the_worker(project)]
    # deploy_like_chalice's trail covers every region: the central account gets one per region instead.
    boto3.client("cloudtrail", region_name=REGION).delete_trail(Name="management")
    organizations = boto3.client("organizations", region_name=REGION)
    organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    members = {}
    for name in ("B", "C"):
        created = organizations.create_account(Email=f"{name.lower()}@example.com", AccountName=name)
        members[name] = created["CreateAccountStatus"]["AccountId"]
    org = Organization(organization_id, members, central_roles)
    for account in (CENTRAL, org.b, org.c):
        for region in REGIONS:
            trail_in(account, region)
            if (account, region) != (CENTRAL, REGION):
                deploy_member_stack(account, region, organization_id, central_roles)
    return org


def place_marks(result: Result) -> dict[tuple[str, str], str]:
    """(account, region) -> ✓ or ✗, from doctor's account-region lines."""
    found = {}
    for line in result.output.splitlines():
        matched = PLACE_LINE.match(line)
        if matched:
            found[(matched[2], matched[3])] = matched[1]
    return found


def line_of(result: Result, account: str, region: str) -> str:
    (line,) = [line for line in result.output.splitlines() if re.match(rf"^. {account}\b.* in {region}: ", line)]
    return line


def failing(result: Result) -> set[tuple[str, str]]:
    return {place for place, mark in place_marks(result).items() if mark == "✗"}


@pytest.fixture
def project() -> Iterator[Path]:
    with project_copy() as path:
        yield path


@pytest.fixture
def org(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Organization]:
    # moto 5.2's CloudFormation keeps a role's inline policies (AWS::IAM::Role's Policies) as the template's
    # mapping, and GetRolePolicy then answers its Python repr; IAM keeps (and answers) JSON.
    put_policy = moto.iam.models.Role.put_policy

    def as_json(role: Any, name: str, document: Any) -> None:
        put_policy(role, name, document if isinstance(document, str) else json.dumps(document))

    monkeypatch.setattr(moto.iam.models.Role, "put_policy", as_json)
    with mock_aws():
        yield build_organization(project)


def doctor(project: Path, *args: str) -> Result:
    return sentry(project, "doctor", "--stage", STAGE, *args)


# --- the organization as built ------------------------------------------------


def test_an_organization_in_order_passes_every_line(project: Path, org: Organization) -> None:
    # The audit role doctor enters by is the one Organizations made in each account it created.
    for account in (org.b, org.c):
        assert admin(account, "iam").get_role(RoleName="OrganizationAccountAccessRole")

    result = doctor(project)

    assert result.exit_code == 0, result.output
    assert set(marks(result).values()) == {"✓"}  # the single-account checks, in the home account and region
    every = {(account, region) for account in (CENTRAL, org.b, org.c) for region in REGIONS}
    assert place_marks(result) == dict.fromkeys(every, "✓")
    assert "6 of 6 account-regions ready" in result.output
    assert "3 account(s) x 2 region(s) (eu-west-1, us-east-1)" in result.output
    assert f"trusting the 3 central role(s) found within {org.id}" in result.output
    assert "Not checked: service control policies" in result.output
    # The accounts are named as the organization names them; the central home region needs no forwarding.
    b_line = line_of(result, org.b, OTHER_REGION)
    assert b_line.startswith(f"✓ {org.b} (B) in us-east-1: ✓ forwarding: rule sg-sentry-member-Forward")
    assert f"allows the {len(MEMBER_ACTIONS)} member actions" in b_line
    assert "✓ CloudTrail: trail management-us-east-1 logs management write events in us-east-1" in b_line
    home = line_of(result, CENTRAL, REGION)
    assert "✓ forwarding: none needed: this is the central bus" in home
    assert "✓ member role: none needed in the deployment's own account" in home


def test_member_accounts_are_read_through_the_audit_role_with_only_its_declared_calls(
    project: Path, org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sts.models import sts_backends

    # Every call the CLI makes with credentials other than the operator's (moto's, in the environment).
    audited: list[str] = []

    def record(model: Any, request_signer: Any, **_: Any) -> None:
        if request_signer._credentials.access_key != os.environ["AWS_ACCESS_KEY_ID"]:
            audited.append(f"{model.service_model.signing_name}:{model.name}")

    _attach_instead_in_c(org)  # so that reading attached policies is among the calls
    session = boto3.session.Session()
    session.events.register("before-call", record)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)

    result = doctor(project)

    assert result.exit_code == 0, result.output
    for account in (org.b, org.c):
        sessions = [role.session_name for role in sts_backends[account]["aws"].assumed_roles]
        assert sessions.count(AUDIT_SESSION) == 1  # once per account, whatever the number of regions
    assert AUDIT_SESSION not in [role.session_name for role in sts_backends[CENTRAL]["aws"].assumed_roles]
    assert set(audited) == set(AUDIT_ACTIONS)  # every call declared, and every declared call needed
    assert audited.count("iam:GetRole") == 2  # the member role, read once per member account (IAM is global)


def _attach_instead_in_c(org: Organization) -> None:
    """C's member role grants by an attached managed policy instead of its inline one: the same, to the sentry."""
    iam = admin(org.c, "iam")
    document = iam.get_role_policy(RoleName="sg-sentry-member", PolicyName="sg-sentry-member")["PolicyDocument"]
    managed = iam.create_policy(PolicyName="sg-sentry-member", PolicyDocument=json.dumps(document))["Policy"]
    iam.attach_role_policy(RoleName="sg-sentry-member", PolicyArn=managed["Arn"])
    iam.delete_role_policy(RoleName="sg-sentry-member", PolicyName="sg-sentry-member")
    assert iam.list_role_policies(RoleName="sg-sentry-member")["PolicyNames"] == []


def test_the_audit_roles_calls_are_the_ones_doctor_help_lists(project: Path) -> None:
    result = sentry(project, "doctor", "--help")
    said = " ".join(result.output.split())
    for action in AUDIT_ACTIONS:
        service, operation = action.split(":")
        assert f"{service}:" in said and operation in said, action


# --- one thing broken at a time -----------------------------------------------


def _rule(org: Organization, account: str, region: str) -> tuple[Any, str]:
    events = admin(account, "events", region)
    (rule,) = [r["Name"] for r in events.list_rules()["Rules"] if r["Name"].startswith("sg-sentry-member-")]
    return events, rule


def _disable_rule_in_b_there(org: Organization) -> None:
    events, rule = _rule(org, org.b, OTHER_REGION)
    events.disable_rule(Name=rule)


def _narrow_the_pattern_in_b_here(org: Organization) -> None:
    events, rule = _rule(org, org.b, REGION)
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ec2"]}), State="ENABLED")


def _forward_elsewhere_from_c_there(org: Organization) -> None:
    events, rule = _rule(org, org.c, OTHER_REGION)
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    # The same target ID: the target is replaced.
    events.put_targets(Rule=rule, Targets=[target | {"Arn": f"arn:aws:events:{REGION}:{org.b}:event-bus/default"}])


def _forward_without_a_role_from_central_there(org: Organization) -> None:
    events, rule = _rule(org, CENTRAL, OTHER_REGION)
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    events.remove_targets(Rule=rule, Ids=[target["Id"]])
    events.put_targets(Rule=rule, Targets=[{"Id": target["Id"], "Arn": target["Arn"]}])


def _drop_an_action_in_c(org: Organization) -> None:
    iam = admin(org.c, "iam")
    policy = iam.get_role_policy(RoleName="sg-sentry-member", PolicyName="sg-sentry-member")["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "RevokeRules"]
    iam.put_role_policy(RoleName="sg-sentry-member", PolicyName="sg-sentry-member", PolicyDocument=json.dumps(policy))


def _trust_without_the_worker_in_b(org: Organization) -> None:
    iam = admin(org.b, "iam")
    trust = iam.get_role(RoleName="sg-sentry-member")["Role"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Principal"]["AWS"] = org.central_roles[:2]
    iam.update_assume_role_policy(RoleName="sg-sentry-member", PolicyDocument=json.dumps(trust))


def _trust_outside_the_organization_in_c(org: Organization) -> None:
    iam = admin(org.c, "iam")
    trust = iam.get_role(RoleName="sg-sentry-member")["Role"]["AssumeRolePolicyDocument"]
    del trust["Statement"][0]["Condition"]["StringEquals"]
    iam.update_assume_role_policy(RoleName="sg-sentry-member", PolicyDocument=json.dumps(trust))


def _no_member_role_in_b(org: Organization) -> None:
    iam = admin(org.b, "iam")
    iam.delete_role_policy(RoleName="sg-sentry-member", PolicyName="sg-sentry-member")
    iam.delete_role(RoleName="sg-sentry-member")


def _no_trail_in_central_there(org: Organization) -> None:
    boto3.client("cloudtrail", region_name=OTHER_REGION).delete_trail(Name=f"management-{OTHER_REGION}")


def _trail_stopped_in_b_here(org: Organization) -> None:
    admin(org.b, "cloudtrail").stop_logging(Name=f"management-{REGION}")


Breakage = Callable[[Organization], None]
B_THERE, B_HERE, C_THERE = ("B", OTHER_REGION), ("B", REGION), ("C", OTHER_REGION)
B_BOTH, C_BOTH = (("B", REGION), ("B", OTHER_REGION)), (("C", REGION), ("C", OTHER_REGION))


@pytest.mark.parametrize(
    ("breakage", "broken", "hint"),
    [
        (_disable_rule_in_b_there, [B_THERE], "is DISABLED"),
        (_narrow_the_pattern_in_b_here, [B_HERE], "has another event pattern than the sentry's"),
        (_forward_elsewhere_from_c_there, [C_THERE], "✗ forwarding: no rule on the default bus sends events to"),
        (_forward_without_a_role_from_central_there, [("central", OTHER_REGION)], "has no role, which EventBridge"),
        (_drop_an_action_in_c, C_BOTH, "does not allow ec2:RevokeSecurityGroupEgress on arn:aws:ec2:"),
        (
            _trust_without_the_worker_in_b,
            B_BOTH,
            f"does not trust arn:aws:iam::{CENTRAL}:role/sg-sentry-org-sweep_worker",
        ),
        (_trust_outside_the_organization_in_c, C_BOTH, "without requiring aws:PrincipalOrgID o-"),
        (_no_member_role_in_b, B_BOTH, "✗ member role: sg-sentry-member does not exist in this account"),
        (_no_trail_in_central_there, [("central", OTHER_REGION)], "✗ CloudTrail: no trail covers us-east-1"),
        (_trail_stopped_in_b_here, [B_HERE], "✗ CloudTrail: management-eu-west-1 is not logging"),
    ],
    ids=[
        "rule-disabled",
        "rule-pattern",
        "rule-elsewhere",
        "rule-without-role",
        "role-missing-action",
        "role-trust-missing-worker",
        "role-trust-without-org",
        "role-missing",
        "no-trail",
        "trail-stopped",
    ],
)
def test_doctor_fails_exactly_the_account_regions_broken(
    project: Path, org: Organization, breakage: Breakage, broken: list[tuple[str, str]], hint: str
) -> None:
    breakage(org)
    result = doctor(project)

    named = {"central": CENTRAL} | org.members
    expected = {(named[name], region) for name, region in broken}
    assert result.exit_code == 1
    assert failing(result) == expected
    assert len(place_marks(result)) == 6
    assert f"{6 - len(expected)} of 6 account-regions ready" in result.output
    for account, region in expected:
        assert hint in line_of(result, account, region)
    assert set(marks(result).values()) == {"✓"}  # the single-account checks see nothing of it


def test_one_thing_broken_in_each_account_fails_exactly_those_lines(project: Path, org: Organization) -> None:
    _no_trail_in_central_there(org)
    _disable_rule_in_b_there(org)
    _drop_an_action_in_c(org)

    result = doctor(project)

    assert result.exit_code == 1
    assert failing(result) == {(CENTRAL, OTHER_REGION), (org.b, OTHER_REGION), (org.c, REGION), (org.c, OTHER_REGION)}
    assert "2 of 6 account-regions ready" in result.output
    # Each line says what is wrong there, and what is right.
    b_there = line_of(result, org.b, OTHER_REGION)
    assert "✗ forwarding: rule sg-sentry-member-" in b_there and "is DISABLED" in b_there
    assert "✓ member role: sg-sentry-member trusts the 3 central role(s)" in b_there
    assert "✓ CloudTrail:" in b_there
    assert "✗ CloudTrail: no trail covers us-east-1" in line_of(result, CENTRAL, OTHER_REGION)
    # The member role is read once, and judged on each region's resources: each line names its own.
    for region, elsewhere in (REGIONS, REGIONS[::-1]):
        line = line_of(result, org.c, region)
        assert f"ec2:RevokeSecurityGroupIngress on arn:aws:ec2:{region}:{org.c}:security-group/" in line
        assert f"arn:aws:ec2:{elsewhere}:" not in line


# --- what the doctor cannot read ------------------------------------------------


def refuse(monkeypatch: pytest.MonkeyPatch, operation: str, refused: Callable[[dict[str, Any]], bool]) -> None:
    """AWS answers AccessDenied to `operation` (the CLI's clients, made from boto3's default session) when
    `refused(request body)`: moto without IAM enforcement never refuses on its own."""

    def deny(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not refused(params.get("body") or {}):
            return None
        error = {"Code": "AccessDenied", "Message": "not authorized to perform this operation"}
        return AWSResponse("https://aws.invalid", 403, {}, None), {"Error": error, "ResponseMetadata": {}}

    session = boto3.session.Session()
    service, name = operation.split(".")
    session.events.register(f"before-call.{service}.{name}", deny)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)


def test_an_account_whose_audit_role_cannot_be_assumed_fails_its_lines_alone(
    project: Path, org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse(monkeypatch, "sts.AssumeRole", lambda body: f"::{org.b}:" in str(body.get("RoleArn")))

    result = doctor(project)

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert failing(result) == {(org.b, REGION), (org.b, OTHER_REGION)}
    assert "4 of 6 account-regions ready" in result.output
    line = line_of(result, org.b, REGION)
    assert "not checked: could not assume role OrganizationAccountAccessRole there" in line and "AccessDenied" in line


def test_another_audit_role_is_the_one_assumed(project: Path, org: Organization) -> None:
    from moto.sts.models import sts_backends

    result = doctor(project, "--audit-role", "SecurityAudit")

    assert result.exit_code == 0, result.output
    assert "member accounts read through role SecurityAudit" in result.output
    arns = [role.arn for role in sts_backends[org.b]["aws"].assumed_roles if role.session_name == AUDIT_SESSION]
    assert arns and all(":assumed-role/SecurityAudit/" in arn for arn in arns)


def test_an_organization_that_cannot_be_listed_says_so(
    project: Path, org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse(monkeypatch, "organizations.ListAccounts", lambda body: True)

    result = doctor(project)

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "✗ accounts: cannot list the organization's active accounts (AWS answered" in result.output
    assert place_marks(result) == {} and "0 of 0 account-regions ready" in result.output


# --- which account-regions --------------------------------------------------------


def test_listed_accounts_are_checked_and_only_those(project: Path, org: Organization) -> None:
    # Deployed so (the doctor judges what the function runs with, not config.json).
    lam = boto3.client("lambda", region_name=REGION)
    name = Project(project).function_name(STAGE)
    env = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env | {"SENTRY_ACCOUNTS": org.b}})
    result = doctor(project)

    assert set(place_marks(result)) == {(org.b, REGION), (org.b, OTHER_REGION)}
    assert "2 of 2 account-regions ready" in result.output
    assert "1 account(s) x 2 region(s)" in result.output
    assert "config.json differs in SENTRY_ACCOUNTS" in result.output


def test_a_single_account_stage_gets_no_account_region_lines(project: Path) -> None:
    with mock_aws():
        deploy_like_chalice(project)
        result = sentry(project, "doctor", "--stage", "dev")
    assert result.exit_code == 0, result.output
    assert place_marks(result) == {} and "account-regions" not in result.output


# --- the trust policy, judged alone ------------------------------------------------

CENTRAL_ROLES = [
    f"arn:aws:iam::{CENTRAL}:role/sg-sentry-org-on_security_group_change",
    f"arn:aws:iam::{CENTRAL}:role/x",
]


def trust(**statement: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": CENTRAL_ROLES}} | statement],
    }


IN_ORG = {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        (trust(Condition=IN_ORG), []),
        (trust(Condition={"StringLike": {"aws:principalorgid": "o-*"}}), []),
        (trust(), [f"trusts {arn} without requiring aws:PrincipalOrgID o-abcdefghij" for arn in CENTRAL_ROLES]),
        (
            trust(Condition={"StringEquals": {"aws:PrincipalOrgID": "o-other00000"}}),
            [f"trusts {arn} without requiring aws:PrincipalOrgID o-abcdefghij" for arn in CENTRAL_ROLES],
        ),
        (
            trust(Condition=IN_ORG | {"StringLike": {"sts:RoleSessionName": "ops-*"}}),
            [f"trusts {arn} only for sessions not named sg-sentry-*, as the sentry's are" for arn in CENTRAL_ROLES],
        ),
        (trust(Condition=IN_ORG | {"StringLike": {"sts:RoleSessionName": "sg-sentry-*"}}), []),
        (
            trust(Condition=IN_ORG, Principal={"AWS": [CENTRAL_ROLES[0], "AROAEXAMPLEID"]}),
            [f"does not trust {CENTRAL_ROLES[1]} (a principal shown as an ID, AROA..., is a role deleted since)"],
        ),
        (trust(Condition=IN_ORG, Principal="*"), ["trusts more than the central roles: *"]),
        (trust(Condition=IN_ORG, Effect="Deny"), [f"does not trust {arn}" for arn in CENTRAL_ROLES]),
    ],
    ids=[
        "exact",
        "like-any-key-case",
        "no-org-condition",
        "another-org",
        "other-sessions",
        "sentry-sessions",
        "recreated-role",
        "anyone",
        "deny-only",
    ],
)
def test_what_the_member_roles_trust_policy_must_say(document: dict[str, Any], problems: list[str]) -> None:
    assert trust_problems(document, CENTRAL_ROLES, "o-abcdefghij") == problems


def test_an_unread_organization_id_is_not_compared_but_its_condition_is_required() -> None:
    assert trust_problems(trust(Condition=IN_ORG), CENTRAL_ROLES, None) == []
    assert trust_problems(trust(), CENTRAL_ROLES[:1], None) == [
        f"trusts {CENTRAL_ROLES[0]} without requiring aws:PrincipalOrgID any organization"
    ]
