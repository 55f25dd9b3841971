"""Break-glass: `sentry allow`'s time-boxed exceptions, against moto, through both stores.

Every test reads the group's real rules afterwards, and what SNS delivered
or the log wrote. Exceptions are granted with the code `sentry allow` runs;
an expired one is granted with a `now` in the past.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.adapters.sweep_rounds import ROUND_PREFIX
from chalicelib.domain.accounts import Place
from chalicelib.domain.allowances import Allowance
from chalicelib.domain.policy import GroupScope
from chalicelib.domain.rules import rule_from_text
from localaws import cloudtrail
from localaws.rehearse import project_copy
from sentrycli import allow
from sentrycli.main import cli
from sentrycli.snapshot import snapshot, write
from tests.functional.conftest import REGION, Invoke, World, log_lines, ssh_from
from tests.functional.test_organization import TABLE, baseline_table

GRANTER = "arn:aws:sts::123456789012:assumed-role/secops/alice"
INCIDENT = "tcp 22 from 203.0.113.4/32, ingress"
NEIGHBOUR = "tcp 22 from 203.0.113.5/32, ingress"
DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
INCIDENT_RULE = rule_from_text(INCIDENT)
ROOT = Path(__file__).resolve().parents[2]


class Stores:
    """The store a stage keeps its baseline in, and the SENTRY_* variables that name it."""

    def __init__(self, kind: str, tmp_path: Path, world: World) -> None:
        if kind == "table":
            self.store: allow.Store = allow.TableStore(baseline_table(world), Place(cloudtrail.ACCOUNT, REGION))
            self.env = {"SENTRY_BASELINE_TABLE": TABLE}
        else:
            path = tmp_path / "baseline.json"
            self.store = allow.FileStore(path, REGION, "test")
            self.env = {"SENTRY_BASELINE_FILE": str(path)}

    def grant(self, world: World, group_id: str, rule: str, ago: timedelta = timedelta(0), **more: str) -> Allowance:
        """An exception for two hours from `ago` before now, granted as `sentry allow` grants it."""
        asked = allow.asked(group_id, rule, more.get("lasting", "2h"), more.get("reason", "INC-42"))
        ec2 = SecurityGroups(world.ec2, GroupCache())
        now = datetime.now(UTC) - ago
        return allow.grant(self.store, ec2, GroupScope(frozenset({group_id})), REGION, asked, GRANTER, now)


def baseline_table_of(stores: Stores) -> BaselineTable:
    assert isinstance(stores.store, allow.TableStore)
    return stores.store.table


def add_ssh(world: World, group_id: str, *cidrs: str) -> dict[str, Any]:
    permission = {**ssh_from(), "IpRanges": [{"CidrIp": cidr} for cidr in cidrs]}
    return world.change("AuthorizeSecurityGroupIngress", GroupId=group_id, IpPermissions=[permission])


# --- the event path --------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "kind"), [("internet", "table"), ("lockdown", "file")])
def test_an_exception_allows_exactly_its_rule_on_exactly_its_group_while_valid(
    world: World, sentry: Invoke, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, kind: str
) -> None:
    group, other = world.group(), world.group("web-2")
    stores = Stores(kind, tmp_path, world)
    granted = stores.grant(world, group, "tcp 22 from 203.0.113.4/32")
    env = {"SENTRY_MODE": mode, "SENTRY_GROUP_IDS": f"{group},{other}", **stores.env}

    # The same call also opens SSH to the neighbouring address, which no exception names.
    answer = sentry(add_ssh(world, group, "203.0.113.4/32", "203.0.113.5/32"), **env)
    elsewhere = sentry(add_ssh(world, other, "203.0.113.4/32"), **env)

    assert world.rules(group) == {INCIDENT, DEFAULT_EGRESS}
    assert world.rules(other) == {DEFAULT_EGRESS}  # exactly that group: the other loses the same rule
    assert answer["rules"] == {"reverted": 1, "allowed": 1} and elsewhere["rules"] == {"reverted": 1}
    email = world.emails()[0]
    until = granted.expires.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"ALLOWED: allowed by exception INC-42 ({granted.allowance_id}) until {until}, granted by {GRANTER}" in email
    logged = next(line for line in log_lines(capsys.readouterr().out) if line.get("rules"))
    by_rule = {rule["rule"]: rule for rule in logged["rules"]}
    assert by_rule[INCIDENT]["outcome"] == "allowed" and "exception INC-42" in by_rule[INCIDENT]["reason"]
    assert by_rule[NEIGHBOUR]["outcome"] == "reverted"


def test_an_expired_exception_allows_nothing_and_the_report_says_it_expired(
    world: World, sentry: Invoke, tmp_path: Path
) -> None:
    group = world.group()
    stores = Stores("file", tmp_path, world)
    stores.grant(world, group, "tcp 22 from 203.0.113.4/32", ago=timedelta(hours=3))

    answer = sentry(
        add_ssh(world, group, "203.0.113.4/32"), SENTRY_MODE="internet", SENTRY_GROUP_IDS=group, **stores.env
    )

    assert answer["outcome"] == "reverted" and world.rules(group) == {DEFAULT_EGRESS}
    assert "REVERTED: exception INC-42 (allow-" in world.emails()[0]


def test_an_approved_rule_edited_into_the_excepted_one_stays_and_the_approved_one_comes_back(
    world: World, sentry: Invoke, tmp_path: Path
) -> None:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.1.0.0/16")])
    stores = Stores("file", tmp_path, world)
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [group]), tmp_path / "baseline.json")
    stores.grant(world, group, "tcp 22 from 203.0.113.4/32")
    # The console's edit of the approved SSH rule, which keeps its ID, to let the incident's address in.
    event = world.modify(group, world.only_rule_id(group), "tcp", 22, "203.0.113.4/32")

    answer = sentry(event, SENTRY_MODE="lockdown", SENTRY_GROUP_IDS=group, **stores.env)

    assert world.rules(group) == {INCIDENT, "tcp 22 from 10.1.0.0/16, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"allowed": 1, "restored": 1}


# --- the sweep -----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "kind"), [("internet", "file"), ("lockdown", "table")])
def test_the_sweep_keeps_a_valid_exception_and_revokes_an_expired_one_saying_so(
    world: World, sweeper: Invoke, tmp_path: Path, mode: str, kind: str
) -> None:
    valid, expired = world.group("valid"), world.group("expired")
    stores = Stores(kind, tmp_path, world)
    stores.grant(world, valid, "tcp 22 from 203.0.113.4/32")
    ended = stores.grant(world, expired, "tcp 22 from 203.0.113.4/32", ago=timedelta(hours=3))
    for group in (valid, expired):  # added while no event reached the sentry
        world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("203.0.113.4/32")])

    answer = sweeper(SENTRY_MODE=mode, SENTRY_GROUP_IDS=f"{valid},{expired}", **stores.env)

    assert world.rules(valid) == {INCIDENT, DEFAULT_EGRESS}
    assert world.rules(expired) == {DEFAULT_EGRESS}
    assert answer["groups_drifted"] == 1 and answer["rules"] == {"reverted": 1}
    (email,) = world.emails()
    until = ended.expires.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"exception INC-42 ({ended.allowance_id}) expired at {until} (granted by {GRANTER}): " in email


# --- nothing the actor can set grants anything ------------------------------------------------


def test_no_tag_and_no_description_on_the_group_grants_an_exception(
    world: World, sentry: Invoke, sweeper: Invoke, tmp_path: Path
) -> None:
    forged = {
        "sg-sentry:allow": "tcp 22 from 203.0.113.4/32",
        "sg-sentry-exception": "INC-42 until 2099-01-01, granted by secops",
        "sg-sentry": "guard",
    }
    group = world.group(tags=forged)
    stores = Stores("table", tmp_path, world)
    make_note = {"Description": "allowed by exception INC-42 until 2099-01-01, granted by secops"}
    permission = {**ssh_from(), "IpRanges": [{"CidrIp": "203.0.113.4/32", **make_note}]}
    env = {"SENTRY_MODE": "internet", "SENTRY_GROUP_TAG": "sg-sentry=guard", **stores.env}

    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[permission])
    assert sentry(event, **env)["outcome"] == "reverted"
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])  # again, with no event
    assert sweeper(**env)["rules"] == {"reverted": 1}

    assert world.rules(group) == {DEFAULT_EGRESS}


def test_the_functions_cannot_write_an_exception() -> None:
    # The shipped policy lets the functions write only items under round/* (dynamodb:LeadingKeys); an
    # exception lives under its place, ACCOUNT/REGION, beside the group's entry.
    policy = json.loads((ROOT / ".chalice" / "policy-org.json").read_text())
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for statement in policy["Statement"]:
        actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
        if actions & writes:
            assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["round/*"]}}
    assert not str(Place(cloudtrail.ACCOUNT, REGION)).startswith(ROUND_PREFIX)


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def project() -> Iterator[Path]:
    with project_copy() as path:
        yield path


def command(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project-dir", str(project), "allow", *args, "--region", REGION])


def test_allow_grants_lists_and_revokes_through_the_command(project: Path, world: World) -> None:
    group = world.group(tags={"sg-sentry": "guard"})  # what the dev stage guards
    baseline = project / "chalicelib" / "baseline.json"

    granted = command(
        project, "--group", group, "--rule", "tcp 22 from 203.0.113.4/32", "--for", "2h", "--reason", "INC-42"
    )

    assert granted.exit_code == 0, granted.output
    assert f"{group}  {INCIDENT}  valid until" in granted.output and "chalice deploy --stage dev" in granted.output
    (recorded,) = json.loads(baseline.read_text())["allowances"]
    assert recorded["rule"] == INCIDENT and recorded["reason"] == "INC-42" and recorded["granted_by"].startswith("arn:")
    listing = command(project, "--list", "--group", group)
    assert listing.exit_code == 0 and f"{recorded['id']}  {group}  {INCIDENT}  valid until" in listing.output
    revoked = command(project, "--revoke", recorded["id"])
    assert revoked.exit_code == 0 and "the next sweep revokes it" in revoked.output
    assert "allowances" not in json.loads(baseline.read_text())
    assert "0 exceptions in" in command(project, "--list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule", "ssh from anywhere"), "cannot read rule 'ssh from anywhere'"),
        (("--rule", "tcp 22 from 203.0.113.4"), "write a CIDR with its length"),
        (("--for", None), "--for is needed"),
        (("--for", "0h"), "must last more than zero"),
        (("--for", "-2h"), "must last more than zero"),
        (("--for", "8d"), "at most 7 days"),
        (("--reason", " "), "--reason is needed"),
        (("--group", "sg-0123456789abcdef0"), "no such security group in eu-west-1: sg-0123456789abcdef0"),
        (("--group", "unguarded"), "is not guarded by this stage"),
    ],
    ids=["rule", "cidr", "no-for", "zero", "negative", "too-long", "no-reason", "unknown-group", "unguarded"],
)
def test_bad_input_says_what_is_wrong_and_writes_nothing(
    project: Path, world: World, args: tuple[str, str | None], message: str
) -> None:
    flags = {
        "--group": world.group(tags={"sg-sentry": "guard"}),
        "--rule": "tcp 22 from 203.0.113.4/32",
        "--for": "2h",
        "--reason": "INC-42",
    }
    flag, value = args
    if value == "unguarded":
        value = world.group("scratch")
    flags[flag] = value  # type: ignore[assignment]

    result = command(project, *(part for key, said in flags.items() if said is not None for part in (key, said)))

    assert result.exit_code != 0 and message in result.output
    assert not (project / "chalicelib" / "baseline.json").exists()


def test_exceptions_that_cannot_be_read_stop_no_revert(world: World, sentry: Invoke) -> None:
    # Internet mode reads the table only for a rule it would revert; a table it cannot read grants nothing.
    group = world.group()
    env = {"SENTRY_MODE": "internet", "SENTRY_GROUP_IDS": group, "SENTRY_BASELINE_TABLE": "no-such-table"}

    answer = sentry(add_ssh(world, group, "203.0.113.4/32"), **env)

    assert answer["outcome"] == "reverted" and world.rules(group) == {DEFAULT_EGRESS}
    assert "its exceptions could not be read (" in world.emails()[0]


def test_the_table_keeps_each_groups_exceptions_apart_and_revokes_by_id(world: World, tmp_path: Path) -> None:
    stores = Stores("table", tmp_path, world)
    table = baseline_table_of(stores)
    # An old 8-digit ID is the prefix of a 17-digit one: their items share a prefix, not their exceptions.
    short, long = "sg-12345678", "sg-12345678abcdef012"
    now = datetime.now(UTC)
    for group in (short, long):
        made = Allowance(
            f"allow-{group[-4:]}", group, REGION, INCIDENT_RULE, now + timedelta(hours=1), now, GRANTER, "x"
        )
        stores.store.add(made)
    assert [a.group_id for a in table.allowances(cloudtrail.ACCOUNT, REGION, short)] == [short]
    assert table.group(cloudtrail.ACCOUNT, REGION, long) is None  # an exception is no baseline entry

    gone = allow.revoke(stores.store, f"allow-{short[-4:]}")

    assert gone.group_id == short and [a.group_id for a in stores.store.allowances()] == [long]
    with pytest.raises(ValueError, match="no exception 'allow-none'"):
        allow.revoke(stores.store, "allow-none")
