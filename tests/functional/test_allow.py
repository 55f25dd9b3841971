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
from chalicelib.domain.policy import GroupScope, Mode, Policy
from chalicelib.domain.rules import rule_from_text
from localaws import cloudtrail
from localaws.rehearse import project_copy
from sentrycli import allow
from sentrycli.main import cli
from sentrycli.snapshot import snapshot, write
from tests.functional.conftest import REGION, Invoke, World, log_lines, ssh_from
from tests.functional.test_bypass_prefix_lists import from_list
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

    def grant(
        self, world: World, group_id: str, rule: str, ago: timedelta = timedelta(0), mode: str = "lockdown"
    ) -> Allowance:
        """An exception for two hours from `ago` before now, granted as `sentry allow` grants it in `mode`."""
        asked = allow.asked(group_id, rule, "2h", "INC-42")
        ec2 = SecurityGroups(world.ec2, GroupCache())
        now = datetime.now(UTC) - ago
        scope = GroupScope(frozenset({group_id}))
        return allow.grant(self.store, ec2, Policy(Mode(mode)), scope, REGION, asked, GRANTER, now)

    def write(self, group_id: str, rule: str, granted_at: datetime | None = None) -> Allowance:
        """An exception written into the store by hand, as `sentry allow` would refuse to grant it."""
        at = granted_at or datetime.now(UTC)
        made = Allowance(
            "allow-0badc0de", group_id, REGION, rule_from_text(rule), at + timedelta(hours=2), at, GRANTER, "INC-42"
        )
        self.store.add(made)
        return made


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
    assert revoked.exit_code == 0, revoked.output
    assert f"{recorded['id']}  {group}  {INCIDENT}  REVOKED at " in revoked.output
    assert "until a sweep revokes it, in either mode" in revoked.output
    # Ended, not deleted: its expiry is the revoke's moment, and it names who revoked it.
    (ended,) = json.loads(baseline.read_text())["allowances"]
    assert ended["revoked_by"] == recorded["granted_by"] and ended["expires"] <= datetime.now(UTC).isoformat()
    assert {k: v for k, v in ended.items() if k != "revoked_by"} == {**recorded, "expires": ended["expires"]}
    listing = command(project, "--list")
    assert (
        f"{recorded['id']}  {group}  {INCIDENT}  REVOKED at " in listing.output and "1 exception in" in listing.output
    )
    again = command(project, "--revoke", recorded["id"])
    assert again.exit_code != 0 and "was revoked at" in again.output and "nothing to revoke" in again.output
    assert json.loads(baseline.read_text())["allowances"] == [ended]


def test_a_source_reaching_the_internet_broadly_is_granted_with_a_warning(project: Path, world: World) -> None:
    group = world.group(tags={"sg-sentry": "guard"})

    granted = command(project, "--group", group, "--rule", "tcp 22 from 0.0.0.0/0", "--for", "1h", "--reason", "INC-7")
    narrow = command(project, "--group", group, "--rule", "tcp 22 from 203.0.113.0/24", "--for", "1h", "--reason", "X")

    assert granted.exit_code == 0, granted.output
    assert "Warning: 0.0.0.0/0 is the whole internet: tcp 22 from 0.0.0.0/0, ingress is open to all of it" in (
        granted.output
    )
    assert narrow.exit_code == 0 and "Warning" not in narrow.output
    assert len(json.loads((project / "chalicelib" / "baseline.json").read_text())["allowances"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule", "ssh from anywhere"), "cannot read rule 'ssh from anywhere'"),
        (("--rule", "tcp 22 from 203.0.113.4"), "write a CIDR with its length"),
        (("--rule", "tcp 22 from 203.0.113.4/0"), "203.0.113.4/0 is the network 0.0.0.0/0: write that if you mean it"),
        (
            ("--rule", "tcp 22 from prefix list pl-0123456789abcdef0"),
            "an exception names addresses: a prefix list's entries can change after the grant; name the CIDR",
        ),
        (("--for", None), "--for is needed"),
        (("--for", "0h"), "must last more than zero"),
        (("--for", "-2h"), "must last more than zero"),
        (("--for", "8d"), "at most 7 days"),
        (("--reason", " "), "--reason is needed"),
        (("--group", "sg-0123456789abcdef0"), "no such security group in eu-west-1: sg-0123456789abcdef0"),
        (("--group", "unguarded"), "is not guarded by this stage"),
        (("--rule", DEFAULT_EGRESS), f"{DEFAULT_EGRESS} is already on sg-"),
    ],
    ids=[
        "rule",
        "cidr",
        "host-bits",
        "prefix-list",
        "no-for",
        "zero",
        "negative",
        "too-long",
        "no-reason",
        "unknown-group",
        "unguarded",
        "already-there",
    ],
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

    gone = allow.revoke(stores.store, f"allow-{short[-4:]}", "arn:aws:sts::123456789012:assumed-role/secops/bob", now)

    assert gone.group_id == short
    kept = {a.group_id: a for a in stores.store.allowances()}
    assert kept[short] == gone and not kept[short].valid_at(now) and kept[long].valid_at(now)
    with pytest.raises(ValueError, match="no exception 'allow-none'"):
        allow.revoke(stores.store, "allow-none", GRANTER, now)


# --- what an exception cannot be made to cover (review r1) ------------------------------------


@pytest.mark.parametrize("mode", ["internet", "lockdown"])
def test_an_exception_naming_a_prefix_list_grants_nothing_though_the_list_is_widened(
    world: World, sentry: Invoke, sweeper: Invoke, tmp_path: Path, mode: str
) -> None:
    group = world.group()
    responders = world.prefix_list("203.0.113.0/28", name="responders")
    stores = Stores("file", tmp_path, world)
    if mode == "lockdown":  # held to a baseline, as the docs recommend
        write(
            snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [group]), tmp_path / "baseline.json"
        )
    # `sentry allow` refuses it (test_bad_input_...); a record written into the store by hand grants nothing.
    stores.write(group, f"tcp 22 from prefix list {responders}")
    env = {"SENTRY_MODE": mode, "SENTRY_GROUP_IDS": group, **stores.env}

    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(responders)])
    answer = sentry(event, **env)

    assert answer["rules"] == {"reverted": 1} and world.rules(group) == {DEFAULT_EGRESS}
    void = "exception INC-42 (allow-0badc0de) grants nothing: it names a prefix list, whose entries can change after"
    assert void in world.emails()[0]
    # Again with no event, and the list widened to the whole internet: the sweep revokes it.
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[from_list(responders)])
    world.ec2.modify_managed_prefix_list(
        PrefixListId=responders, CurrentVersion=world.list_version(responders), AddEntries=[{"Cidr": "0.0.0.0/0"}]
    )
    assert sweeper(**env)["rules"] == {"reverted": 1}
    assert world.rules(group) == {DEFAULT_EGRESS} and void in world.emails()[-1]


def test_an_exception_dated_in_the_future_grants_nothing(world: World, sweeper: Invoke, tmp_path: Path) -> None:
    group = world.group()
    stores = Stores("table", tmp_path, world)
    # Seven days, by its dates: from 2099. Valid only from its grant on, so not today.
    stores.write(group, "tcp 22 from 203.0.113.4/32", granted_at=datetime(2099, 1, 1, tzinfo=UTC))
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("203.0.113.4/32")])

    answer = sweeper(SENTRY_MODE="internet", SENTRY_GROUP_IDS=group, **stores.env)

    assert answer["rules"] == {"reverted": 1} and world.rules(group) == {DEFAULT_EGRESS}
    assert "grants nothing: it is dated 2099-01-01 00:00:00 UTC, in the future" in world.emails()[0]


def test_internet_mode_grants_no_exception_for_a_rule_it_allows_anyway(world: World, tmp_path: Path) -> None:
    stores = Stores("file", tmp_path, world)
    with pytest.raises(ValueError, match=r"internet mode allows tcp 5432 from 10.9.0.0/16, ingress anyway \("):
        stores.grant(world, world.group(), "tcp 5432 from 10.9.0.0/16", mode="internet")
    assert stores.store.allowances() == ()


INTERNAL = "tcp 5432 from 10.9.0.0/16, ingress"


@pytest.mark.parametrize(
    ("mode", "baseline", "kind"),
    [("internet", False, "table"), ("lockdown", True, "file"), ("lockdown", False, "table")],
    ids=["internet", "lockdown-baseline", "lockdown-exposure-only"],
)
def test_a_revoked_exception_has_the_sweep_revoke_its_rule_in_every_mode(
    world: World, sentry: Invoke, sweeper: Invoke, tmp_path: Path, mode: str, baseline: bool, kind: str
) -> None:
    group = world.group()
    stores = Stores(kind, tmp_path, world)
    if baseline:
        write(
            snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [group]), tmp_path / "baseline.json"
        )
    # An internal rule, which the policy allows but for the exception: in internet mode, one granted while the
    # stage ran in lockdown mode (internet mode's `sentry allow` refuses it: it needs none).
    granted = stores.grant(world, group, INTERNAL)
    env = {"SENTRY_MODE": mode, "SENTRY_GROUP_IDS": group, **stores.env}
    permission = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[permission])
    assert sentry(event, **env)["rules"] == {"allowed": 1} and INTERNAL in world.rules(group)
    bob = "arn:aws:sts::123456789012:assumed-role/secops/bob"

    ended = allow.revoke(stores.store, granted.allowance_id, bob, datetime.now(UTC))
    answer = sweeper(**env)

    assert answer["rules"] == {"reverted": 1} and world.rules(group) == {DEFAULT_EGRESS}
    said = f"exception INC-42 ({granted.allowance_id}) was revoked at {ended.expires:%Y-%m-%d %H:%M:%S} UTC by {bob}"
    assert said in world.emails()[-1]
    (line,) = allow.listed(stores.store, [group], datetime.now(UTC))
    assert f"{INTERNAL}  REVOKED at " in line and bob in line


# --- what an exception cannot be made to leave behind (review r3) -----------------------------


def test_a_snapshot_leaves_out_a_rule_that_stands_by_an_exception_so_the_sweep_still_revokes_it(
    project: Path, world: World, sentry: Invoke, sweeper: Invoke
) -> None:
    group = world.group(tags={"sg-sentry": "guard"})
    baseline = project / "chalicelib" / "baseline.json"
    snapshot_args = ["--project-dir", str(project), "snapshot", "--group", group, "--region", REGION]
    assert CliRunner().invoke(cli, snapshot_args).exit_code == 0  # held to a baseline
    granted = command(
        project, "--group", group, "--rule", "tcp 22 from 203.0.113.4/32", "--for", "2h", "--reason", "INC-42"
    )
    assert granted.exit_code == 0, granted.output
    env = {"SENTRY_MODE": "lockdown", "SENTRY_GROUP_IDS": group, "SENTRY_BASELINE_FILE": str(baseline)}
    assert sentry(add_ssh(world, group, "203.0.113.4/32"), **env)["rules"] == {"allowed": 1}

    # During the incident the group is snapshotted again (for an unrelated approved change, say).
    again = CliRunner().invoke(cli, snapshot_args)

    assert again.exit_code == 0, again.output
    (recorded,) = json.loads(baseline.read_text())["allowances"]
    assert f"left out {INCIDENT} on {group}: it stands by exception INC-42 ({recorded['id']})" in again.output
    assert f"✓ {group} (web-prod): 1 rules" in again.output  # the default egress only
    assert command(project, "--revoke", recorded["id"]).exit_code == 0
    assert sweeper(**env)["rules"] == {"reverted": 1}
    assert world.rules(group) == {DEFAULT_EGRESS}
