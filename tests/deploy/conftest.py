"""What the CLI's tests share: a copy of the project to run `sentry` in, and moto in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from localaws.rehearse import project_copy
from sentrycli.main import cli
from tests.functional.conftest import REGION, World


@pytest.fixture
def project() -> Iterator[Path]:
    with project_copy() as path:
        yield path


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield World.build(*(boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs")))


def sentry(project: Path, *args: str) -> Result:
    """`sentry` run in `project`, in the tests' region."""
    return CliRunner().invoke(cli, ["--project-dir", str(project), *args, "--region", REGION])
