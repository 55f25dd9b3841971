"""An organization's shipped policies, enforced: the central policy and the member role, and nothing more, suffice.

moto checks each call against the caller's policies: the central sentry is a
user carrying policy-org.json's actions, and in member account B it acts
through the member role, carrying the member template's policy. As in
test_iam_enforced.py, resources are widened to "*" (moto treats EC2's as
"*"; parliament and the template tests judge them). moto does not judge a
role's trust across accounts, so refusal is made real on the caller's side:
that is also how AWS answers for a member account without the role (the
AssumeRole is refused), whereas moto lets a missing role be assumed and then
fails its calls with an internal error no AWS endpoint returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication
from moto.sns.models import sns_backends

from chalicelib.adapters import boto
from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE
from localaws import cloudtrail
from sentrycli.iampolicy import statements
from tests.deploy.test_iam_enforced import EVERYTHING, Principal, actions_only, principal
from tests.functional.conftest import REGION, invoke_handler

ROOT = Path(__file__).resolve().parents[2]
CENTRAL_POLICY = json.loads((ROOT / ".chalice" / "policy-org.json").read_text())
MEMBER_TEMPLATE = json.loads((ROOT / "templates" / "member.json").read_text())
MEMBER = "222222222222"
OTHER_REGION = "us-east-1"
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def member_policy() -> dict[str, Any]:
    (policy,) = MEMBER_TEMPLATE["Resources"]["MemberRole"]["Properties"]["Policies"]
    return policy["PolicyDocument"]  # type: ignore[no-any-return]


def without(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    kept = [statement for statement in statements(policy) if statement.get("Sid") != sid]
    assert len(kept) < len(statements(policy)), f"no statement {sid}"
    return dict(policy, Statement=kept)


def clients_in(admin: Principal, account: str, role: str, region: str) -> dict[str, Any]:
    made = admin.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="admin")[
        "Credentials"
    ]
    keys = {
        "aws_access_key_id": made["AccessKeyId"],
        "aws_secret_access_key": made["SecretAccessKey"],
        "aws_session_token": made["SessionToken"],
    }
    return {name: boto3.client(name, region_name=region, **keys) for name in ("ec2", "iam")}


class Organization:
    """The central account's topic, and in member account B a guarded group, its admin and (maybe) the member role."""

    def __init__(self, admin: Principal, member_role_policy: dict[str, Any] | None) -> None:
        self.admin = admin
        self.topic_arn = self.admin.client("sns").create_topic(Name="sg-sentry-alerts")["TopicArn"]
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*"}]}
        in_b = clients_in(admin, MEMBER, "OrganizationAccountAccessRole", OTHER_REGION)
        if member_role_policy is not None:
            in_b["iam"].create_role(RoleName=DEFAULT_MEMBER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
            in_b["iam"].put_role_policy(
                RoleName=DEFAULT_MEMBER_ROLE,
                PolicyName="sg-sentry-member",
                PolicyDocument=json.dumps(actions_only(member_role_policy)),
            )
        self.ec2 = in_b["ec2"]
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        tags = [{"ResourceType": "security-group", "Tags": [{"Key": "sg-sentry", "Value": "guard"}]}]
        self.group = self.ec2.create_security_group(
            GroupName="web-prod", Description="web", VpcId=vpc, TagSpecifications=tags
        )["GroupId"]

    def open_ssh(self) -> dict[str, Any]:
        params = {"GroupId": self.group, "IpPermissions": [SSH_WORLD]}
        _, created = cloudtrail.apply(self.ec2, "AuthorizeSecurityGroupIngress", **params)
        who = cloudtrail.assumed_role("developer", "mallory", account=MEMBER)
        record = cloudtrail.record(
            "AuthorizeSecurityGroupIngress", params, created, region=OTHER_REGION, identity=who, account=MEMBER
        )
        return cloudtrail.eventbridge(record)

    def still_open(self) -> bool:
        found = self.ec2.describe_security_groups(GroupIds=[self.group])["SecurityGroups"][0]["IpPermissions"]
        return any(rule.get("FromPort") == 22 for rule in found)

    def emails(self) -> list[str]:
        topic = sns_backends[cloudtrail.ACCOUNT][REGION].topics[self.topic_arn]
        return [json.loads(message)["email"] for _, message, *_ in topic.sent_notifications]


@pytest.fixture
def enforced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto with IAM enforced; a factory of organizations for a central policy and a member role's policy."""
    with mock_aws():
        admin = principal("admin", EVERYTHING, boto3.client("iam", region_name=REGION))
        # Account B's admin role, as Organizations creates it in an account it creates.
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*"}]}
        in_b = clients_in(admin, MEMBER, "OrganizationAccountAccessRole", OTHER_REGION)
        in_b["iam"].create_role(RoleName="OrganizationAccountAccessRole", AssumeRolePolicyDocument=json.dumps(trust))
        in_b["iam"].put_role_policy(
            RoleName="OrganizationAccountAccessRole", PolicyName="admin", PolicyDocument=json.dumps(EVERYTHING)
        )

        def organization(central: dict[str, Any], member: dict[str, Any] | None) -> Organization:
            built = Organization(admin, member)
            sentry = principal("sentry", actions_only(central), built.admin.client("iam"))
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", sentry.key_id)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sentry.secret)
            boto.forget()
            return built

        with enable_iam_authentication():
            yield organization


def handle(organization: Organization, tmp_path: Path) -> Any:
    env = {
        "SENTRY_ACCOUNTS": f"{cloudtrail.ACCOUNT},{MEMBER}",
        "SENTRY_MODE": "internet",
        "SENTRY_GROUP_TAG": "sg-sentry=guard",
        "SENTRY_TOPIC_ARN": organization.topic_arn,
    }
    return invoke_handler(organization.open_ssh(), tmp_path, **env)


def test_the_shipped_central_policy_and_member_role_revert_a_change_in_a_member_account(
    enforced: Any, tmp_path: Path
) -> None:
    organization = enforced(CENTRAL_POLICY, member_policy())

    answer = handle(organization, tmp_path)

    assert answer["outcome"] == "reverted" and not organization.still_open()
    (email,) = organization.emails()
    assert f"Account      {MEMBER}" in email


def test_a_member_role_refused_fails_naming_the_account_and_changes_nothing(enforced: Any, tmp_path: Path) -> None:
    organization = enforced(without(CENTRAL_POLICY, "AssumeMemberRoles"), member_policy())

    with pytest.raises(
        Exception, match=f"could not assume arn:aws:iam::{MEMBER}:role/{DEFAULT_MEMBER_ROLE}: AccessDenied"
    ):
        handle(organization, tmp_path)

    assert organization.still_open()
    (email,) = organization.emails()
    assert email.startswith("sg-sentry could not evaluate AuthorizeSecurityGroupIngress")
    assert f"in account {MEMBER}" in email and "AccessDenied" in email


def test_a_member_role_without_the_revoke_cannot_revert(enforced: Any, tmp_path: Path) -> None:
    # The control: the member role's policy is what lets the sentry act in the member account.
    organization = enforced(CENTRAL_POLICY, without(member_policy(), "RevokeRules"))

    with pytest.raises(Exception, match="could not revert"):
        handle(organization, tmp_path)

    assert organization.still_open()
