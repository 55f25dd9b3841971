"""`chalice deploy`, `sentry setup` and `sentry doctor` for real, against moto's server on 127.0.0.1.

The organization's rehearsal shares the single account's server: a second
server would cost more than the org stage's deployment itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result

from localaws.rehearse import MEMBER_ACCOUNT, chalice, project_copy, rehearse, rehearse_organization
from localaws.server import REGION, local_aws
from sentrycli.main import cli


@pytest.fixture
def deployable() -> Iterator[Path]:
    with local_aws(), project_copy() as project:
        yield project


def sentry(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project-dir", str(project), *args, "--region", REGION])


def test_chalice_deploy_and_delete_leave_what_aws_should_hold(deployable: Path) -> None:
    checks = rehearse(deployable, "dev", REGION)
    assert [str(check) for check in checks if not check.ok] == []
    assert len(checks) == 12

    # Then an organization's: the org stage, and the member stack in a second account, in two regions.
    org = [str(check) for check in rehearse_organization(deployable, REGION)]
    assert [check for check in org if check.startswith("✗")] == []
    assert len(org) == 38
    assert "✓ the worker takes the messages of arn:aws:sqs:eu-west-1:123456789012:sg-sentry-sweep, one at a time" in org
    member = f"{MEMBER_ACCOUNT}/us-east-1"
    assert f"✓ {member}: it trusts exactly the central roles" in org
    assert f"✓ {member}: its policy allows exactly the MEMBER actions (12, EC2 only)" in org
    assert f"✓ {MEMBER_ACCOUNT}/eu-west-1: stack without the member role" in org


def test_doctor_goes_from_red_to_green_with_setup_deploy_and_a_trail(deployable: Path) -> None:
    empty = sentry(deployable, "doctor")
    assert empty.exit_code == 1 and "6 of 7 checks failed" in empty.output

    assert sentry(deployable, "setup", "--email", "secops@example.com").exit_code == 0
    chalice(deployable, "deploy", "--stage", "dev")
    s3, trail, ec2 = (boto3.client(name, region_name=REGION) for name in ("s3", "cloudtrail", "ec2"))
    s3.create_bucket(Bucket="org-trail", CreateBucketConfiguration={"LocationConstraint": REGION})
    trail.create_trail(Name="org", S3BucketName="org-trail", IsMultiRegionTrail=True)
    trail.start_logging(Name="org")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    tags = [{"ResourceType": "security-group", "Tags": [{"Key": "sg-sentry", "Value": "guard"}]}]
    ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc, TagSpecifications=tags)

    green = sentry(deployable, "doctor")

    assert green.exit_code == 0, green.output
    assert "all 7 checks passed" in green.output
    chalice(deployable, "delete", "--stage", "dev")
