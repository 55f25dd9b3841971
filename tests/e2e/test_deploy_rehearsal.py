"""`chalice deploy`, `sentry setup` and `sentry doctor` for real, against moto's server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result

from localaws.rehearse import chalice, project_copy, rehearse
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
    assert len(checks) == 11


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
