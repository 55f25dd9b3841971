"""`sentry snapshot` and `sentry sweep`, against moto in this process, on a copy of the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.conftest import sentry
from tests.functional.conftest import REGION, World, ssh_from

GUARD = {"sg-sentry": "guard"}  # what the dev stage guards


def baseline_of(project: Path) -> dict[str, object]:
    return json.loads((project / "chalicelib" / "baseline.json").read_text())  # type: ignore[no-any-return]


def test_snapshot_records_the_stages_guarded_groups_and_only_those(project: Path, world: World) -> None:
    web, db = world.group("web", tags=GUARD), world.group("db", tags=GUARD)
    world.group("scratch")
    world.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_from("10.0.0.0/8", 443)])

    result = sentry(project, "snapshot")

    assert result.exit_code == 0, result.output
    groups = baseline_of(project)["groups"]
    assert set(groups) == {web, db}  # type: ignore[arg-type]
    assert len(groups[web]["rules"]) == 2 and len(groups[db]["rules"]) == 1  # type: ignore[index]
    assert f"✓ {web} (web): 2 rules" in result.output
    assert "Next: review and commit the file, then chalice deploy --stage dev" in result.output


def test_snapshot_of_one_group_leaves_the_others_as_they_were(project: Path, world: World) -> None:
    web, db = world.group("web", tags=GUARD), world.group("db", tags=GUARD)
    assert sentry(project, "snapshot").exit_code == 0
    world.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    world.ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[ssh_from("10.0.0.0/8", 5432)])

    assert sentry(project, "snapshot", "--group", web).exit_code == 0

    groups = baseline_of(project)["groups"]
    assert len(groups[web]["rules"]) == 2 and len(groups[db]["rules"]) == 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("group", "message"),
    [("web-prod", "not security group IDs: web-prod"), ("sg-0123456789abcdef0", "no such security group")],
)
def test_snapshot_of_a_group_that_is_not_there_says_so_and_writes_nothing(
    project: Path, world: World, group: str, message: str
) -> None:
    result = sentry(project, "snapshot", "--group", group)
    assert result.exit_code == 1 and message in result.output
    assert not (project / "chalicelib" / "baseline.json").exists()


def test_sweep_dry_run_says_what_it_would_do_and_a_real_sweep_does_it(project: Path, world: World) -> None:
    web = world.group("web", tags=GUARD)
    world.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    assert sentry(project, "snapshot").exit_code == 0
    world.ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    world.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_from()])
    drifted = world.rules(web)

    dry = sentry(project, "sweep", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["rules"] == {"would-revert": 1, "would-restore": 1}
    assert world.rules(web) == drifted

    real = sentry(project, "sweep")
    assert real.exit_code == 0, real.output
    assert world.rules(web) == {"tcp 443 from 10.0.0.0/8, ingress", "all traffic to 0.0.0.0/0, egress"}
    assert real.output.startswith(f"✓ {REGION}: sg-sentry sweep: reverted 1 rule, restored 1 rule on 1 group")


def test_sweep_with_a_broken_baseline_fails_and_changes_nothing(project: Path, world: World) -> None:
    web = world.group("web", tags=GUARD)
    world.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_from()])
    (project / "chalicelib" / "baseline.json").write_text('{"format": "something else"}')

    result = sentry(project, "sweep")

    assert result.exit_code == 1 and "not a baseline" in result.output
    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(web)
