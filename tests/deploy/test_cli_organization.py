"""`sentry sweep` and `sentry snapshot` for an organization's stage, against moto in this process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from localaws.rehearse import project_copy
from sentrycli.main import cli
from tests.functional.conftest import REGION, World
from tests.functional.test_organization import (
    CENTRAL,
    GUARD,
    MEMBER_B,
    OTHER_REGION,
    SSH_WORLD,
    SSH_WORLD_RULE,
    TABLE,
    baseline_table,
    in_account,
    planted,
)

STAGE = "orgtest"


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield World.build(*(boto3.client(name, region_name=REGION) for name in ("ec2", "sns", "sqs")))


@pytest.fixture
def project(world: World) -> Iterator[Path]:
    with project_copy() as path:
        config_path = path / ".chalice" / "config.json"
        config = json.loads(config_path.read_text())
        config["stages"][STAGE] = {
            "iam_policy_file": "policy-org.json",
            "environment_variables": {
                "SENTRY_MODE": "internet",
                "SENTRY_GROUP_TAG": "sg-sentry=guard",
                "SENTRY_ACCOUNTS": f"{CENTRAL},{MEMBER_B}",
                "SENTRY_REGIONS": f"{REGION},{OTHER_REGION}",
                "SENTRY_BASELINE_TABLE": TABLE,
                "SENTRY_TOPIC_ARN": world.topic_arn,
            },
        }
        config_path.write_text(json.dumps(config, indent=2))
        yield path


def sentry(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project-dir", str(project), *args, "--stage", STAGE, "--region", REGION])


def test_sweep_sweeps_every_account_region_here_and_says_so_in_words(project: Path, world: World) -> None:
    drift = planted((CENTRAL, MEMBER_B), (REGION, OTHER_REGION))
    baseline_table(world)

    result = sentry(project, "sweep")

    assert result.exit_code == 0, result.output
    for account, region in drift:
        assert f"✓ {account} in {region}: sg-sentry sweep: reverted 1 rule on 1 group in {account}/{region}" in (
            result.output
        )
    assert "4 account-regions swept, 4 found something" in result.output
    assert all(SSH_WORLD_RULE not in place.rules(group) for place, group in drift.values())
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry sweep: found something in 4 of 4 account-regions"


def test_sweep_can_be_narrowed_but_not_widened(project: Path, world: World) -> None:
    drift = planted((CENTRAL, MEMBER_B), (REGION, OTHER_REGION))
    baseline_table(world)

    narrowed = sentry(project, "sweep", "--only-accounts", MEMBER_B, "--only-regions", OTHER_REGION, "--json")

    assert narrowed.exit_code == 0, narrowed.output
    answer = json.loads(narrowed.output.strip().splitlines()[-1])
    assert [place["place"] for place in answer["places"]] == [f"{MEMBER_B}/{OTHER_REGION}"]
    for (account, region), (place, group) in drift.items():
        swept = (account, region) == (MEMBER_B, OTHER_REGION)
        assert (SSH_WORLD_RULE in place.rules(group)) is not swept
    widened = sentry(project, "sweep", "--only-accounts", "999999999999")
    assert widened.exit_code != 0
    assert "not swept by this deployment: account 999999999999 (see SENTRY_ACCOUNTS, SENTRY_REGIONS)" in (
        widened.output
    )


def test_snapshot_writes_a_member_accounts_groups_to_the_table(project: Path, world: World) -> None:
    member = in_account(MEMBER_B, OTHER_REGION)
    group = member.group(tags=GUARD)
    member.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_WORLD])
    table = baseline_table(world)

    result = sentry(
        project,
        "snapshot",
        "--account",
        MEMBER_B,
        "--account-region",
        OTHER_REGION,
        "--member-role",
        "OrganizationAccountAccessRole",
    )

    assert result.exit_code == 0, result.output
    assert f"✓ wrote table {TABLE}: {MEMBER_B}/{OTHER_REGION}" in result.output
    entry = table.group(MEMBER_B, OTHER_REGION, group)
    assert entry is not None and SSH_WORLD_RULE in {str(rule) for rule in entry.rules}
    assert table.region(CENTRAL, OTHER_REGION).groups == {}  # under the member's account, not the caller's


def test_a_member_accounts_snapshot_needs_the_table(world: World) -> None:
    with project_copy() as path:
        result = CliRunner().invoke(
            cli, ["--project-dir", str(path), "snapshot", "--account", MEMBER_B, "--region", REGION]
        )
    assert result.exit_code != 0
    assert "a member account's baseline lives in the table: the stage sets no SENTRY_BASELINE_TABLE" in result.output


def test_replay_of_a_member_accounts_record_says_it_enters_through_the_member_role(
    project: Path, world: World, tmp_path: Path
) -> None:
    member = in_account(MEMBER_B, REGION)
    group = member.group(tags=GUARD)
    record = tmp_path / "record.json"
    event = member.open_ssh(group)
    record.write_text(json.dumps(event["detail"]))  # as CloudTrail's Event history shows it

    result = sentry(project, "replay", str(record))

    assert result.exit_code == 0, result.output
    session = f"sg-sentry-{event['detail']['eventID']}"
    assert f"  note: account {MEMBER_B} is entered through the member role sg-sentry-member (session {session})" in (
        result.output
    )
    assert SSH_WORLD_RULE not in member.rules(group)
    assert f"reverted 1 rule on {group} (web-prod) in {MEMBER_B}" in result.output.splitlines()[0]
