"""The shipped policy, enforced: moto checks every call the sentry makes against it.

moto judges each call's action but treats EC2 and SNS resources as "*", so
the policy used here keeps the shipped action list and widens Resource to
"*"; resource scoping is judged by parliament in test_policy.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from chalicelib.adapters import aws
from chalicelib.adapters.ec2 import GROUP_CACHE, GroupCache, SecurityGroups
from chalicelib.adapters.permissions import REQUIRED_ACTIONS
from chalicelib.domain.policy import GroupScope
from sentrycli.iampolicy import statements
from sentrycli.snapshot import snapshot, write
from tests.functional.conftest import REGION, World, invoke_handler, scheduled_event, ssh_from

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
POLICY_FILES = sorted({stage["iam_policy_file"] for stage in CONFIG["stages"].values()})
SHIPPED = {name: json.loads((ROOT / ".chalice" / name).read_text()) for name in POLICY_FILES}
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def actions_only(policy: dict[str, Any]) -> dict[str, Any]:
    return dict(policy, Statement=[dict(s, Resource="*") for s in statements(policy)])


@dataclass
class Principal:
    key_id: str
    secret: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service, region_name=REGION, aws_access_key_id=self.key_id, aws_secret_access_key=self.secret
        )


def principal(name: str, policy: dict[str, Any], iam: Any) -> Principal:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Principal(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture
def enforced() -> Iterator[Any]:
    """moto with IAM enforced from the first call on; yields a factory of worlds for a given policy."""
    with mock_aws():
        admin = principal("admin", EVERYTHING, boto3.client("iam", region_name=REGION))

        def world_for(policy: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> World:
            sentry = principal("sentry", policy, admin.client("iam"))
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", sentry.key_id)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sentry.secret)
            aws.reset()
            GROUP_CACHE.clear()
            return World.build(*(admin.client(name) for name in ("ec2", "sns", "sqs")))

        with enable_iam_authentication():
            yield world_for


def run_every_flow(world: World, tmp_path: Path) -> list[str]:
    """Drive every kind of AWS call the sentry makes; return what went wrong, in words."""
    problems: list[str] = []
    tagged = world.group("tagged", tags={"guard": "yes"})
    by_id = world.group("by-id")
    world.ec2.authorize_security_group_ingress(GroupId=by_id, IpPermissions=[ssh_from("10.0.0.0/8")])
    events = [
        # DescribeSecurityGroups (tag), RevokeSecurityGroupIngress, Publish
        (world.change("AuthorizeSecurityGroupIngress", GroupId=tagged, IpPermissions=[ssh_from()]), tagged),
        # RevokeSecurityGroupEgress
        (world.change("AuthorizeSecurityGroupEgress", GroupId=tagged, IpPermissions=[ssh_from("::/0", 25)]), tagged),
        # DescribeSecurityGroupRules, then a revoke by rule ID
        (world.modify(by_id, world.only_rule_id(by_id), "tcp", 22, "0.0.0.0/0"), by_id),
    ]
    for event, group in events:
        try:
            invoke_handler(
                event, tmp_path, SENTRY_GROUP_IDS=by_id, SENTRY_GROUP_TAG="guard", SENTRY_TOPIC_ARN=world.topic_arn
            )
        except Exception as error:  # every failure is a finding here
            problems.append(f"{event['detail']['eventName']} on {group}: {error}")
    for group in (tagged, by_id):
        left = world.rules(group) - {"all traffic to 0.0.0.0/0, egress"}
        if left:
            problems.append(f"{group} still has {sorted(left)}")
    problems += _restore_flows(world, tmp_path)
    problems += _flows_around_the_rules(world, tmp_path, tagged)
    delivered = len(world.messages())
    if delivered != len(events) + 6:
        problems.append(f"{delivered} of {len(events) + 6} notifications delivered")
    return problems


def _flows_around_the_rules(world: World, tmp_path: Path, tagged: str) -> list[str]:
    """The calls that close the ways around a rule change: prefix lists, guard tags, interfaces."""
    problems: list[str] = []
    env = {"SENTRY_GROUP_TAG": "guard", "SENTRY_MODE": "internet", "SENTRY_TOPIC_ARN": world.topic_arn}

    def deliver(flow: str, event: dict[str, Any]) -> None:
        try:
            invoke_handler(event, tmp_path, **env)
        except Exception as error:  # every failure is a finding here
            problems.append(f"{flow}: {error}")

    # DescribeManagedPrefixLists, GetManagedPrefixListEntries: a list widened under a guarded rule.
    corp = world.prefix_list("10.0.0.0/8")
    from_corp = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": corp}]}
    world.ec2.authorize_security_group_ingress(GroupId=tagged, IpPermissions=[from_corp])
    widened = world.change(
        "ModifyManagedPrefixList",
        PrefixListId=corp,
        CurrentVersion=world.list_version(corp),
        AddEntries=[{"Cidr": "0.0.0.0/0"}],
    )
    deliver("prefix list", widened)
    if f"tcp 22 from prefix list {corp}, ingress" in world.rules(tagged):
        problems.append("the rule from the widened prefix list is still there")
    # A list whose entries cannot be read is judged as the internet, so the rule goes either way: the
    # reason in the report says whether the entries were read.
    reasons = [
        rule["reason"] for document in _peek(world) for group in document.get("groups", []) for rule in group["rules"]
    ]
    problems += [reason for reason in reasons if "could not be read" in reason]
    # CreateTags: the guard tag put back.
    deliver("guard tag", world.change("DeleteTags", Resources=[tagged], Tags=[{"Key": "guard"}]))
    if "guard" not in world.tags(tagged):
        problems.append("the guard tag was not put back")
    # DescribeNetworkInterfaces, ModifyNetworkInterfaceAttribute: an open group taken off a guarded interface.
    open_ssh = world.group("open-ssh")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    _, interface = world.instance(tagged)
    deliver(
        "interface",
        world.change("ModifyNetworkInterfaceAttribute", NetworkInterfaceId=interface, Groups=[tagged, open_ssh]),
    )
    if world.interface_groups(interface) != {tagged}:
        problems.append(f"the interface still carries {sorted(world.interface_groups(interface))}")
    return problems


def _peek(world: World) -> list[dict[str, Any]]:
    """The JSON documents delivered so far, left in the queue (they are counted at the end)."""
    answer = world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(json.loads(message["Body"])["Message"]) for message in answer.get("Messages", [])]


def _restore_flows(world: World, tmp_path: Path) -> list[str]:
    """Restores by the event handler and by the sweep, on a group held to a baseline."""
    problems: list[str] = []
    held = world.group("held")
    internal = ssh_from("10.0.0.0/8", 443)
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[internal])
    baseline = tmp_path / "baseline.json"
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [held]), baseline)
    approved = world.rules(held)
    env = {"SENTRY_GROUP_IDS": held, "SENTRY_BASELINE_FILE": str(baseline), "SENTRY_TOPIC_ARN": world.topic_arn}

    def check(flow: str, run: Callable[[], Any]) -> None:
        try:
            run()
        except Exception as error:  # every failure is a finding here
            problems.append(f"{flow} on {held}: {error}")
        if world.rules(held) != approved:
            problems.append(f"after the {flow}, {held} has {sorted(world.rules(held))}, not {sorted(approved)}")
            # Set the group right as an administrator would, so the next flow starts from the baseline.
            if "tcp 443 from 10.0.0.0/8, ingress" not in world.rules(held):
                world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[internal])

    # AuthorizeSecurityGroupIngress: an approved rule a person revoked is put back.
    revoked = world.change("RevokeSecurityGroupIngress", GroupId=held, IpPermissions=[internal])
    check("revoke event", lambda: invoke_handler(revoked, tmp_path, **env))
    # ModifySecurityGroupRules: a modified approved rule is redefined back in place.
    modified = world.modify(held, world.only_rule_id(held), "tcp", 443, "0.0.0.0/0")
    check("modify event", lambda: invoke_handler(modified, tmp_path, **env))
    # The sweep: DescribeSecurityGroups by ID, then AuthorizeSecurityGroupEgress.
    everywhere = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    world.ec2.revoke_security_group_egress(GroupId=held, IpPermissions=[everywhere])
    check("sweep", lambda: invoke_handler(scheduled_event(), tmp_path, function="sweep", **env))
    return problems


@pytest.mark.parametrize("name", POLICY_FILES)
def test_the_shipped_actions_are_enough_under_iam_enforcement(
    enforced: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    world = enforced(actions_only(SHIPPED[name]), monkeypatch)
    assert run_every_flow(world, tmp_path) == []


def drives(statement: Mapping[str, Any]) -> bool:
    """Whether run_every_flow needs the statement: it grants a single account's action, other than logging.

    (Lambda's own logging, WriteOwnLogs, makes no call moto sees; an organization's stage adds its member
    roles, table and queue, which these flows in one account do not use; test_policy.py covers both.)
    """
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return statement["Sid"] != "WriteOwnLogs" and bool(set(actions) & REQUIRED_ACTIONS)


def test_an_organizations_policy_keeps_a_single_accounts_statements_as_they_are() -> None:
    # So the control below, run on the single account's policy, speaks for those statements in both.
    single = {s["Sid"]: s for s in statements(SHIPPED["policy-dev.json"])}
    organization = {s["Sid"]: s for s in statements(SHIPPED["policy-org.json"])}
    assert {sid: organization.get(sid) for sid in single} == single


@pytest.mark.parametrize(
    ("name", "sid"),
    [("policy-dev.json", s["Sid"]) for s in statements(SHIPPED["policy-dev.json"]) if drives(s)],
)
def test_without_any_one_statement_the_sentry_fails_under_enforcement(
    enforced: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, sid: str
) -> None:
    # The control: enforcement is real, and every statement the flows need is needed.
    shipped = SHIPPED[name]
    reduced = dict(shipped, Statement=[s for s in statements(shipped) if s["Sid"] != sid])
    world = enforced(actions_only(reduced), monkeypatch)
    problems = run_every_flow(world, tmp_path)
    assert any("AccessDenied" in problem for problem in problems), f"the sentry still works without {sid}"
