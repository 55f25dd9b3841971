"""Drift: approved rules put back by the event handler and by the sweep; violations no event reported, reverted.

Every test reads the group's real rules afterwards, and the messages SNS
delivered. A baseline is taken with the code `sentry snapshot` runs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import aws, identity
from chalicelib.adapters.baseline_file import save
from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.baseline import Baseline, BaselineError
from chalicelib.domain.errors import SweepFailed
from chalicelib.domain.policy import GroupScope
from localaws import cloudtrail
from localaws.ec2_answers import revokes_name_their_rules
from sentrycli.snapshot import snapshot, write
from tests.conftest import DEPLOYED_CALLS
from tests.faults import refuse
from tests.functional.conftest import REGION, Invoke, World, log_lines, session_of, ssh_from

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
HTTPS_INTERNAL = "tcp 443 from 10.0.0.0/8, ingress"
SSH_BASTION = "tcp 22 from 10.1.0.0/16, ingress"
APPROVED = {HTTPS_INTERNAL, SSH_BASTION, DEFAULT_EGRESS}
FUNCTION = "sg-sentry-prod-on_security_group_change"


def https_internal() -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "internal https"}],
    }


def egress_everywhere() -> dict[str, Any]:
    return {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@dataclass
class Held:
    """A guarded group whose approved rules are in a baseline file."""

    group_id: str
    baseline: Path

    def env(self, **more: str) -> dict[str, str]:
        return {"SENTRY_GROUP_IDS": self.group_id, "SENTRY_BASELINE_FILE": str(self.baseline)} | more


def take_baseline(world: World, path: Path, *group_ids: str) -> None:
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, group_ids), path)


@pytest.fixture
def held(world: World, tmp_path: Path) -> Held:
    group = world.group()
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[https_internal(), ssh_from("10.1.0.0/16")])
    path = tmp_path / "baseline.json"
    take_baseline(world, path, group)
    assert world.rules(group) == APPROVED
    return Held(group, path)


def rule_by_id(world: World, group_id: str, rule_id: str) -> dict[str, Any] | None:
    rules = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return next((r for r in rules["SecurityGroupRules"] if r["SecurityGroupRuleId"] == rule_id), None)


def rule_id_of(world: World, group_id: str, port: int) -> str:
    rules = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    (rule_id,) = [r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if r.get("FromPort") == port]
    return str(rule_id)


def snapshot_of_rules(world: World, group_id: str) -> set[tuple[str, str]]:
    """Every rule with its ID: unchanged means nothing was revoked, restored or redefined."""
    rules = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {(r["SecurityGroupRuleId"], json.dumps(r, sort_keys=True, default=str)) for r in rules["SecurityGroupRules"]}


# --- the baseline file -------------------------------------------------------


def test_the_snapshot_records_every_rule_with_its_description_and_id(world: World, held: Held) -> None:
    document = json.loads(held.baseline.read_text())
    entry = document["groups"][held.group_id]
    assert entry["region"] == REGION and entry["name"] == "web-prod"
    https = next(rule for rule in entry["rules"] if rule.get("from_port") == 443)
    assert https["description"] == "internal https" and https["rule_id"].startswith("sgr-")
    assert len(entry["rules"]) == 3


# --- the event handler restores ----------------------------------------------


@pytest.mark.parametrize("by_rule_id", [False, True], ids=["by-permission", "by-rule-id"])
def test_an_approved_rule_a_person_deletes_is_put_back_by_the_event_handler(
    world: World, sentry: Invoke, held: Held, by_rule_id: bool
) -> None:
    what: dict[str, Any] = (
        {"SecurityGroupRuleIds": [rule_id_of(world, held.group_id, 443)]}
        if by_rule_id
        else {"IpPermissions": [https_internal()]}
    )
    event = world.change("RevokeSecurityGroupIngress", GroupId=held.group_id, **what)
    assert HTTPS_INTERNAL not in world.rules(held.group_id)

    answer = sentry(event, **held.env())

    assert answer["outcome"] == "restored" and answer["rules"] == {"restored": 1}
    assert world.rules(held.group_id) == APPROVED
    restored = rule_by_id(world, held.group_id, rule_id_of(world, held.group_id, 443))
    assert restored is not None and restored["Description"] == "internal https"
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: restored 1 rule on " + f"{held.group_id} (web-prod)"
    (email,) = world.emails()
    assert "arn:aws:iam::123456789012:user/alice removed 1 rule from security group" in email
    assert "Removed by this change, as CloudTrail recorded it\n  - tcp 443 from 10.0.0.0/8, ingress" in email
    assert "RESTORED: approved in the baseline but missing from the group\n" in email
    assert "held to its baseline of 3 rules" in email
    assert [rule["outcome"] for rule in document["rules"]] == ["restored"]


def test_a_modified_approved_rule_gets_its_approved_definition_back_in_place(
    world: World, sentry: Invoke, held: Held
) -> None:
    rule_id = rule_id_of(world, held.group_id, 443)
    event = world.modify(held.group_id, rule_id, "tcp", 443, "0.0.0.0/0")

    answer = sentry(event, **held.env())

    assert answer["outcome"] == "restored"
    assert world.rules(held.group_id) == APPROVED
    back = rule_by_id(world, held.group_id, rule_id)  # the same rule, not a new one
    assert back is not None and back["CidrIpv4"] == "10.0.0.0/8"
    (email,) = world.emails()
    assert "redefined 1 rule on security group" in email
    assert f"tcp 443 from 0.0.0.0/0, ingress [{rule_id}]" in email
    assert "Approved definition: tcp 443 from 10.0.0.0/8, ingress" in email
    assert "CloudTrail does not record what a modified rule was before" not in email


def test_adding_an_approved_rule_again_is_allowed_and_anything_else_reverted(
    world: World, sentry: Invoke, held: Held
) -> None:
    world.ec2.revoke_security_group_ingress(GroupId=held.group_id, IpPermissions=[https_internal()])
    event = world.change(
        "AuthorizeSecurityGroupIngress", GroupId=held.group_id, IpPermissions=[https_internal(), ssh_from()]
    )

    sentry(event, **held.env())

    assert world.rules(held.group_id) == APPROVED
    (email,) = world.emails()
    assert "ALLOWED: approved in the baseline" in email
    assert "REVERTED: lockdown mode: not in the approved baseline" in email


def test_an_exempt_principal_may_remove_an_approved_rule_until_the_sweep_comes(
    world: World, sentry: Invoke, sweeper: Invoke, held: Held, capsys: pytest.CaptureFixture[str]
) -> None:
    terraform = cloudtrail.assumed_role("terraform-apply", "run-42")
    event = world.change(
        "RevokeSecurityGroupIngress", {"identity": terraform}, GroupId=held.group_id, IpPermissions=[https_internal()]
    )
    env = held.env(SENTRY_EXEMPT_PRINCIPALS="arn:aws:iam::*:role/terraform-*")

    assert sentry(event, **env)["outcome"] == "nothing-to-do"
    assert HTTPS_INTERNAL not in world.rules(held.group_id)
    (line,) = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "nothing-to-do" and "exempt principal" in line["message"]

    # The baseline is the truth: until it is snapshotted again, the sweep puts the rule back.
    sweeper(**env)
    assert world.rules(held.group_id) == APPROVED


# --- the sweep -----------------------------------------------------------------


def test_the_sweep_puts_right_drift_that_no_event_reported(world: World, sweeper: Invoke, held: Held) -> None:
    # No events: EventBridge dropped them, or the sentry was not deployed yet.
    world.ec2.revoke_security_group_ingress(GroupId=held.group_id, IpPermissions=[https_internal()])
    world.ec2.revoke_security_group_egress(GroupId=held.group_id, IpPermissions=[egress_everywhere()])
    world.ec2.authorize_security_group_ingress(GroupId=held.group_id, IpPermissions=[ssh_from()])

    answer = sweeper(**held.env())

    assert world.rules(held.group_id) == APPROVED
    assert answer["outcome"] == "reverted" and answer["rules"] == {"reverted": 1, "restored": 2}
    assert answer["groups_checked"] == 1 and answer["groups_drifted"] == 1
    ((subject, document),) = world.messages()  # one summary, not one per rule
    assert subject == "sg-sentry sweep: reverted 1 rule, restored 2 rules on 1 group in eu-west-1"
    assert document["kind"] == "sweep" and document["groups"][0]["id"] == held.group_id
    (email,) = world.emails()
    assert "Exemptions (SENTRY_EXEMPT_PRINCIPALS) do not apply" in email
    assert "tcp 22 from 0.0.0.0/0, ingress" in email and "REVERTED: not in the approved baseline" in email


def test_the_sweep_redefines_a_modified_approved_rule_in_place(world: World, sweeper: Invoke, held: Held) -> None:
    rule_id = rule_id_of(world, held.group_id, 22)
    spec = {"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=held.group_id, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": spec}]
    )

    DEPLOYED_CALLS.clear()  # the snapshot's reads

    answer = sweeper(**held.env())

    assert answer["rules"] == {"restored": 1}
    assert world.rules(held.group_id) == APPROVED
    back = rule_by_id(world, held.group_id, rule_id)
    assert back is not None and (back["FromPort"], back["CidrIpv4"]) == (22, "10.1.0.0/16")
    # The groups' listing has no rule IDs; a redefinition needs them, so this group was read again.
    operations = [operation for _, operation, _ in DEPLOYED_CALLS]
    assert operations[:3] == ["DescribeSecurityGroups", "DescribeSecurityGroupRules", "ModifySecurityGroupRules"]


def test_drift_that_cannot_be_a_modified_rule_costs_no_second_read(world: World, sweeper: Invoke, held: Held) -> None:
    world.ec2.authorize_security_group_ingress(GroupId=held.group_id, IpPermissions=[ssh_from()])
    DEPLOYED_CALLS.clear()  # the snapshot's reads and the set-up

    answer = sweeper(**held.env())

    assert answer["rules"] == {"reverted": 1} and world.rules(held.group_id) == APPROVED
    # Nothing approved is missing, so no rule can have been modified in place: no read for rule IDs before
    # the revoke. The read after it is the check: plain moto's answer does not name the rule it revoked.
    operations = [operation for _, operation, _ in DEPLOYED_CALLS]
    # Then one read of the region's interfaces, for a guarded workload opened through another group.
    assert operations == [
        "DescribeSecurityGroups",
        "RevokeSecurityGroupIngress",
        "DescribeSecurityGroupRules",
        "DescribeNetworkInterfaces",
        "Publish",
    ]


@pytest.mark.parametrize("answer_names_rules", [True, False], ids=["answer-names-rules", "answer-says-true"])
def test_in_internet_mode_the_sweep_reverts_what_opens_a_guarded_group_to_the_internet(
    world: World, sweeper: Invoke, answer_names_rules: bool
) -> None:
    guard = {"sg-sentry": "guard"}
    exposed = world.group("exposed", tags=guard)
    public_web = world.group("public-web", tags=guard)
    unguarded = world.group("unguarded")
    for group, port in ((exposed, 22), (public_web, 443), (unguarded, 22)):
        world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from(port=port)])
    ssh_id = rule_id_of(world, exposed, 22)

    with revokes_name_their_rules() if answer_names_rules else contextlib.nullcontext():
        answer = sweeper(SENTRY_MODE="internet", SENTRY_GROUP_TAG="sg-sentry=guard")

    assert world.rules(exposed) == {DEFAULT_EGRESS}
    # One read of the groups and their rules, one revoke, and a read to check it only when EC2's answer
    # did not name the rule it revoked; then one read of the interfaces (the side door).
    check = [] if answer_names_rules else ["DescribeSecurityGroupRules"]
    expected = ["DescribeSecurityGroups", "RevokeSecurityGroupIngress", *check, "DescribeNetworkInterfaces", "Publish"]
    assert [operation for _, operation, _ in DEPLOYED_CALLS] == expected
    assert "tcp 443 from 0.0.0.0/0, ingress" in world.rules(public_web)  # port 443 may be open
    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(unguarded)  # not guarded
    assert answer["groups_checked"] == 2 and answer["rules"] == {"reverted": 1}
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry sweep: reverted 1 rule on 1 group in eu-west-1"
    assert [group["id"] for group in document["groups"]] == [exposed]
    # The sweep's listing carries no rule IDs: the report names the rule by the ID EC2's answer gave it.
    (swept,) = document["groups"]
    assert [rule["rule_id"] for rule in swept["rules"]] == [ssh_id if answer_names_rules else None]
    (email,) = world.emails()
    assert (f"[{ssh_id}]" in email) is answer_names_rules


def test_a_sweep_that_finds_nothing_sends_nothing(world: World, sweeper: Invoke, held: Held) -> None:
    before = snapshot_of_rules(world, held.group_id)
    DEPLOYED_CALLS.clear()  # the snapshot's reads
    answer = sweeper(**held.env())
    assert answer["outcome"] == "clean" and answer["groups_checked"] == 1
    assert snapshot_of_rules(world, held.group_id) == before
    assert world.messages() == []
    # A group that matches its baseline costs no second read (for rule IDs) and no write; the interfaces
    # are read once, to find a guarded workload opened through another group.
    assert [operation for _, operation, _ in DEPLOYED_CALLS] == ["DescribeSecurityGroups", "DescribeNetworkInterfaces"]


def test_in_lockdown_without_a_baseline_the_sweep_judges_exposure_only_and_says_so(
    world: World, sweeper: Invoke, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group("no-baseline", tags={"sg-sentry": "guard"})
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from(), ssh_from("10.0.0.0/8")])

    empty = tmp_path / "empty.json"
    save(Baseline(), empty)  # a baseline, but not for this group
    answer = sweeper(SENTRY_GROUP_TAG="sg-sentry", SENTRY_BASELINE_FILE=str(empty))

    # Without a baseline no rule can be told from drift, but what opens the group to the internet can:
    # SSH from the world goes; the internal rule and the default egress rule stay.
    assert world.rules(group) == {"tcp 22 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1} and answer["groups_not_judged"] == 1
    ((_, document),) = world.messages()
    assert document["not_judged"] == [group]
    assert document["groups"][0]["rules"][0]["reason"].startswith("lockdown mode without a baseline: only what")
    (summary,) = [line for line in log_lines(capsys.readouterr().out) if line["outcome"].startswith("sweep-")]
    assert "1 judged for exposure only (lockdown without a baseline)" in summary["message"]
    # No read for rule IDs before the revoke; the read after it is the check (plain moto names no revoked rule).
    operations = [operation for _, operation, _ in DEPLOYED_CALLS]
    assert operations[:3] == ["DescribeSecurityGroups", "RevokeSecurityGroupIngress", "DescribeSecurityGroupRules"]


# --- dry run -------------------------------------------------------------------


def _revoke_event(world: World, held: Held) -> dict[str, Any]:
    return world.change("RevokeSecurityGroupIngress", GroupId=held.group_id, IpPermissions=[https_internal()])


def _modify_event(world: World, held: Held) -> dict[str, Any]:
    return world.modify(held.group_id, rule_id_of(world, held.group_id, 443), "tcp", 443, "0.0.0.0/0")


def _drift_without_event(world: World, held: Held) -> None:
    world.ec2.revoke_security_group_ingress(GroupId=held.group_id, IpPermissions=[https_internal()])
    world.ec2.authorize_security_group_ingress(GroupId=held.group_id, IpPermissions=[ssh_from()])


@pytest.mark.parametrize("scenario", ["revoke event", "modify event", "sweep"])
def test_a_dry_run_changes_nothing_and_says_what_it_would_do(
    world: World, sentry: Invoke, sweeper: Invoke, held: Held, scenario: str
) -> None:
    if scenario == "revoke event":
        event = _revoke_event(world, held)
    elif scenario == "modify event":
        event = _modify_event(world, held)
    else:
        _drift_without_event(world, held)
    before = snapshot_of_rules(world, held.group_id)

    if scenario == "sweep":
        answer = sweeper(**held.env(SENTRY_DRY_RUN="true"))
    else:
        answer = sentry(event, **held.env(SENTRY_DRY_RUN="true"))

    assert answer["outcome"] == "dry-run"
    assert snapshot_of_rules(world, held.group_id) == before
    ((subject, _),) = world.messages()
    assert "[dry run]" in subject and "would restore 1 rule" in subject
    assert not [op for service, op, _ in DEPLOYED_CALLS if service == "ec2" and not op.startswith("Describe")]


# --- the sentry's own changes --------------------------------------------------


def _records_of_own_writes(identity: dict[str, Any]) -> list[dict[str, Any]]:
    """The CloudTrail events the sentry's own write calls produce, as EventBridge would deliver them."""
    events = []
    for service, operation, params in DEPLOYED_CALLS:
        if service == "ec2" and not operation.startswith("Describe"):
            record = cloudtrail.record(operation, params, region=REGION, identity=identity, with_rule_set=False)
            events.append(cloudtrail.eventbridge(record))
    return events


@pytest.mark.parametrize("who", ["handler", "sweep"])
def test_the_sentrys_own_restores_and_reverts_cause_no_further_action(
    world: World,
    sentry: Invoke,
    sweeper: Invoke,
    held: Held,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    who: str,
) -> None:
    # A person removes an approved rule and redefines another; both are put right by the sentry.
    person_revoke = _revoke_event(world, held)
    person_modify = world.modify(held.group_id, rule_id_of(world, held.group_id, 22), "tcp", 22, "0.0.0.0/0")
    world.ec2.authorize_security_group_ingress(GroupId=held.group_id, IpPermissions=[ssh_from(port=3389)])
    # chalice deploy gives each function a role of its own name; Lambda names the session after the function.
    session = FUNCTION if who == "handler" else "sg-sentry-prod-sweep"
    own = session_of(session, session, monkeypatch)
    if who == "handler":
        sentry(person_modify, **held.env(AWS_LAMBDA_FUNCTION_NAME=FUNCTION))
        sentry(person_revoke, **held.env(AWS_LAMBDA_FUNCTION_NAME=FUNCTION))
    else:
        sweeper(**held.env())
    assert world.rules(held.group_id) == APPROVED
    own_events = _records_of_own_writes(own)
    assert {event["detail"]["eventName"] for event in own_events} == {
        "RevokeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngress",
        "ModifySecurityGroupRules",
    }
    settled = snapshot_of_rules(world, held.group_id)
    messages = len(world.messages())
    capsys.readouterr()
    if who == "sweep":
        # The handler runs as itself: the sweep is recognised as its sibling, not as the caller STS names.
        aws.reset()
        identity.forget()
        session_of(FUNCTION, FUNCTION, monkeypatch)
    DEPLOYED_CALLS.clear()

    # EventBridge now delivers the events of the sentry's own calls to the handler.
    for event in own_events:
        assert sentry(event, **held.env(AWS_LAMBDA_FUNCTION_NAME=FUNCTION))["outcome"] == "own-change"

    assert snapshot_of_rules(world, held.group_id) == settled
    assert [line["outcome"] for line in log_lines(capsys.readouterr().out)] == ["own-change"] * len(own_events)
    assert [call[1] for call in DEPLOYED_CALLS] in ([], ["GetCallerIdentity"])  # no EC2 call at all
    assert messages >= 1 and world.messages() == []


def test_a_session_named_like_the_sweep_on_another_role_is_not_the_sentry(
    world: World, sentry: Invoke, held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_of(FUNCTION, FUNCTION, monkeypatch)  # the handler's real identity
    impostor = cloudtrail.assumed_role("attacker-role", "sg-sentry-prod-sweep")
    event = world.change(
        "RevokeSecurityGroupIngress", {"identity": impostor}, GroupId=held.group_id, IpPermissions=[https_internal()]
    )

    answer = sentry(event, **held.env(AWS_LAMBDA_FUNCTION_NAME=FUNCTION))

    assert answer["outcome"] == "restored" and world.rules(held.group_id) == APPROVED


def test_a_rule_the_sweep_cannot_put_right_is_reported_and_fails_the_invocation(
    world: World, sweeper: Invoke, held: Held
) -> None:
    world.ec2.revoke_security_group_ingress(GroupId=held.group_id, IpPermissions=[https_internal()])
    world.ec2.authorize_security_group_ingress(GroupId=held.group_id, IpPermissions=[ssh_from()])
    refuse("ec2", "RevokeSecurityGroupIngress", "UnauthorizedOperation")

    with pytest.raises(SweepFailed, match="could not put right 1 rule"):
        sweeper(**held.env())

    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(held.group_id)
    assert HTTPS_INTERNAL in world.rules(held.group_id)  # the rest of the work was still done
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry sweep: FAILED to revert 1 rule, restored 1 rule on 1 group in eu-west-1"
    (failed,) = [rule for rule in document["groups"][0]["rules"] if rule["outcome"] == "revert-failed"]
    assert failed["error"].startswith("UnauthorizedOperation")


def test_the_sweep_refuses_a_broken_baseline_and_changes_nothing(
    world: World, sweeper: Invoke, held: Held, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ec2.authorize_security_group_ingress(GroupId=held.group_id, IpPermissions=[ssh_from()])
    before = snapshot_of_rules(world, held.group_id)
    held.baseline.write_text("{not json")

    with pytest.raises(BaselineError, match="cannot read it"):
        sweeper(**held.env())

    assert snapshot_of_rules(world, held.group_id) == before
    (line,) = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "config-error"


def test_the_event_handler_refuses_a_broken_baseline_reports_it_and_changes_nothing(
    world: World, sentry: Invoke, held: Held
) -> None:
    event = _revoke_event(world, held)
    before = snapshot_of_rules(world, held.group_id)
    held.baseline.write_text('{"format": "sg-sentry baseline 1", "groups": {"sg-1": {}}}')

    with pytest.raises(BaselineError, match="not a security group ID"):
        sentry(event, **held.env())

    assert snapshot_of_rules(world, held.group_id) == before
    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry: could not evaluate RevokeSecurityGroupIngress")
    assert "could not read the baseline" in document["problem"]


def _after_the_sweeps_read(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], object], read: str = "guarded_groups_with_rules"
) -> None:
    """Make something happen between the sweep's last read of the rules (`read`) and its first change.

    In internet mode that is the one read of the groups; in lockdown mode, a drifted group's second read.
    """
    original = getattr(SecurityGroups, read)

    def read_then(self: SecurityGroups, *args: Any) -> Any:
        found = original(self, *args)
        monkeypatch.setattr(SecurityGroups, read, original)  # later reads (the check) are fresh
        meanwhile()
        return found

    monkeypatch.setattr(SecurityGroups, read, read_then)


def test_a_rule_narrowed_after_the_sweep_read_it_is_left_as_it_now_is(
    world: World, sweeper: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sweep acts on a read that may be minutes old: it must never revoke by ID what a rule has become.
    group = world.group("exposed", tags={"sg-sentry": "guard"})
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])
    rule_id = rule_id_of(world, group, 22)
    _after_the_sweeps_read(monkeypatch, lambda: world.modify(group, rule_id, "tcp", 22, "10.0.0.0/8"))

    answer = sweeper(SENTRY_MODE="internet", SENTRY_GROUP_TAG="sg-sentry=guard")

    assert "tcp 22 from 10.0.0.0/8, ingress" in world.rules(group)
    assert answer["rules"] == {"already-gone": 1}


def test_an_approved_rule_deleted_while_the_sweep_was_redefining_it_is_put_back(
    world: World, sweeper: Invoke, held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule_id = rule_id_of(world, held.group_id, 22)
    spec = {"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=held.group_id, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": spec}]
    )
    _after_the_sweeps_read(
        monkeypatch,
        lambda: world.ec2.revoke_security_group_ingress(GroupId=held.group_id, SecurityGroupRuleIds=[rule_id]),
        read="rules_by_group",
    )

    answer = sweeper(**held.env())

    assert world.rules(held.group_id) == APPROVED
    assert answer["outcome"] == "restored" and answer["rules"] == {"restored": 1}
    (email,) = world.emails()
    assert "the rule was deleted meanwhile, so the approved rule is put back" in email
