"""The shipped IAM policy grants exactly what the sentry calls, on what it calls it: declared, linted, and seen."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.arns import ANY, TOPIC, Permission
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.identity import PERMISSIONS_NOT_NEEDED
from chalicelib.adapters.permissions import (
    CENTRAL,
    CENTRAL_ACTIONS,
    LAMBDA_LOGGING,
    OPERATOR,
    REQUIRED,
    REQUIRED_ACTIONS,
    Place,
    resources,
)
from chalicelib.adapters.sns import SnsNotifier
from chalicelib.adapters.sweep_rounds import ROUND_PREFIX
from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE
from chalicelib.domain.config import sweep_queue
from sentrycli.iampolicy import Need, differences, granted_actions, missing, statements
from sentrycli.project import APP_NAME, Project
from tests.conftest import NOT_THE_WHOLE_SUITE, RECORDED_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
POLICY_FILES = sorted({stage["iam_policy_file"] for stage in CONFIG["stages"].values() if "iam_policy_file" in stage})
STAGES = sorted(name for name, stage in CONFIG["stages"].items() if "iam_policy_file" in stage)
# An organization's functions may write only the sweep rounds' items, never the baseline: an Allow with this
# condition, which `sentrycli.iampolicy` does not count as granting (whether it applies depends on the item).
ROUNDS_ONLY = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [ROUND_PREFIX + "*"]}}
WRITES_TO_ROUNDS_ONLY = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem"})


def shipped(name: str) -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / name).read_text())  # type: ignore[no-any-return]


def policy_of(stage: str) -> dict[str, Any]:
    return shipped(CONFIG["stages"][stage]["iam_policy_file"])


def declared(stage: str) -> tuple[Permission, ...]:
    """What a stage's functions need: an organization's central stage (it names the sweep's queue, so the
    worker exists, as in app.py) needs CENTRAL, a single account's REQUIRED."""
    return CENTRAL if sweep_queue(Project(ROOT).environment(stage)) else REQUIRED


def declared_actions(stage: str) -> frozenset[str]:
    return frozenset(permission.action for permission in declared(stage))


def needs_of(stage: str) -> list[Need]:
    """The declared permissions, rendered for what a stage's policy is scoped to.

    Any region and account; the app's functions (their log groups); the
    stage's topic once `sentry setup` has written it, any of the app's until then;
    the stage's chat topic, if it names one;
    and in an organization the stage's member role, table and queue.
    """
    env = Project(ROOT).environment(stage)
    place = Place(
        partition="aws",
        function_name=f"{APP_NAME}-*",
        topic_arn=env.get("SENTRY_TOPIC_ARN") or f"arn:aws:sns:*:*:{APP_NAME}*",
        chat_topic_arn=env.get("SENTRY_CHAT_TOPIC_ARN"),
        member_role=env.get("SENTRY_MEMBER_ROLE", DEFAULT_MEMBER_ROLE),
        table_name=env.get("SENTRY_BASELINE_TABLE", ANY),
        queue_name=env.get("SENTRY_SWEEP_QUEUE", ANY),
    )
    return [Need(permission.action, permission.resource) for permission in resources(place, declared(stage))]


def conditional_and_plain(policy: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The policy's statements that carry a Condition, with the Condition left out; and the others."""
    found = statements(policy)
    conditional = [{k: v for k, v in s.items() if k != "Condition"} for s in found if "Condition" in s]
    return dict(policy, Statement=conditional), dict(policy, Statement=[s for s in found if "Condition" not in s])


def test_automatic_policy_generation_is_off_and_every_stage_ships_a_policy() -> None:
    # Chalice's analyzer reads only app.py and cannot see calls made in chalicelib.
    assert CONFIG["autogen_policy"] is False
    assert POLICY_FILES and all("iam_policy_file" in stage for stage in CONFIG["stages"].values())


def test_a_single_account_stage_and_an_organization_stage_are_shipped() -> None:
    assert (declared("dev"), declared("org")) == (REQUIRED, CENTRAL)


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_grants_exactly_the_declared_actions(stage: str) -> None:
    policy, actions = policy_of(stage), declared_actions(stage)
    # Every declared action is allowed, the writes limited to the sweep rounds under their condition only.
    assert missing([policy], actions) == sorted(f"{action} (conditional)" for action in actions & WRITES_TO_ROUNDS_ONLY)
    assert granted_actions(policy) == actions  # nothing more
    assert not any("*" in action for action in granted_actions(policy))


@pytest.mark.parametrize("stage", STAGES)
def test_each_statement_grants_its_actions_on_exactly_the_declared_resources(stage: str) -> None:
    conditional, plain = conditional_and_plain(policy_of(stage))
    needs = needs_of(stage)
    assert differences(plain, [need for need in needs if need.action not in WRITES_TO_ROUNDS_ONLY]) == []
    # The conditional statements, read without their condition, grant exactly the writes, on exactly the table.
    assert differences(conditional, [need for need in needs if need.action in WRITES_TO_ROUNDS_ONLY]) == []


@pytest.mark.parametrize("stage", STAGES)
def test_the_only_condition_limits_the_writes_to_the_sweep_rounds(stage: str) -> None:
    conditions = [(s["Sid"], s["Condition"]) for s in statements(policy_of(stage)) if "Condition" in s]
    if declared_actions(stage) & WRITES_TO_ROUNDS_ONLY:
        assert conditions == [("TallySweepRounds", ROUNDS_ONLY)]
    else:
        assert conditions == []


def test_writes_without_their_condition_would_be_a_difference() -> None:
    # The control: proof that the tests above can fail; unconditioned, the baseline's own items could be written.
    policy = policy_of("org")
    for statement in policy["Statement"]:
        statement.pop("Condition", None)
    _, plain = conditional_and_plain(policy)
    found = differences(plain, [need for need in needs_of("org") if need.action not in WRITES_TO_ROUNDS_ONLY])
    assert "TallySweepRounds: dynamodb:PutItem is not needed" in found
    assert missing([policy], declared_actions("org")) == []


@pytest.mark.parametrize(
    ("chat_topic", "difference"),
    [
        ("arn:aws:sns:eu-west-1:111122223333:sg-sentry-chat", None),
        (
            "arn:aws:sns:eu-west-1:111122223333:team-chat",
            "not granted: sns:Publish on arn:aws:sns:eu-west-1:111122223333:team-chat",
        ),
    ],
    ids=["named-as-the-app", "named-otherwise"],
)
def test_a_chat_topic_is_needed_once_configured_and_must_be_granted(chat_topic: str, difference: str | None) -> None:
    # SENTRY_CHAT_TOPIC_ARN: the topic's publish, on that topic too (as `sentry doctor` renders it for a stage).
    place = Place(function_name=f"{APP_NAME}-*", topic_arn=f"arn:aws:sns:*:*:{APP_NAME}*", chat_topic_arn=chat_topic)
    needs = [Need(permission.action, permission.resource) for permission in resources(place)]
    assert Need("sns:Publish", chat_topic) in needs
    found = differences(policy_of("dev"), needs)
    assert found == [] if difference is None else any(difference in line for line in found), found


def _changed(sid: str, resource: str | list[str]) -> dict[str, Any]:
    policy = shipped(CONFIG["stages"]["dev"]["iam_policy_file"])
    for statement in statements(policy):
        if statement["Sid"] == sid:
            statement["Resource"] = resource
    return policy


@pytest.mark.parametrize(
    ("sid", "resource", "difference"),
    [
        ("RevokeRules", "*", "RevokeRules: ec2:RevokeSecurityGroupEgress on * is not needed"),
        ("RevokeRules", "arn:aws:ec2:*:*:*", "RevokeRules: ec2:RevokeSecurityGroupEgress on arn:aws:ec2:*:*:*"),
        (
            "RevokeRules",
            ["arn:aws:ec2:*:*:security-group/*", "arn:aws:ec2:*:*:security-group-rule/*"],
            "ec2:RevokeSecurityGroupIngress on arn:aws:ec2:*:*:security-group-rule/* is not needed",
        ),
        (
            "RestoreApprovedRules",
            "arn:aws:ec2:*:*:security-group/*",
            "not granted: ec2:ModifySecurityGroupRules on arn:aws:ec2:*:*:security-group-rule/*",
        ),
        (
            "DetachOpenGroups",
            "arn:aws:ec2:*:*:network-interface/*",
            "not granted: ec2:ModifyNetworkInterfaceAttribute on arn:aws:ec2:*:*:security-group/*",
        ),
        (
            "ReadGroupsAndRules",
            "arn:aws:ec2:*:*:security-group/*",
            "not granted: ec2:DescribeSecurityGroups",
        ),
        (
            "ReadPrefixListEntries",
            "arn:aws:ec2:*:*:prefix-list/pl-0123456789abcdef0",
            "not granted: ec2:GetManagedPrefixListEntries on arn:aws:ec2:*:*:prefix-list/*",
        ),
        ("PublishReports", "arn:aws:sns:*:*:*", "PublishReports: sns:Publish on arn:aws:sns:*:*:* is not needed"),
        ("WriteOwnLogs", "arn:aws:logs:*:*:log-group:*", "logs:CreateLogGroup on arn:aws:logs:*:*:log-group:*"),
        (
            "WriteOwnLogs",
            "arn:aws:logs:*:*:log-group:/aws/lambda/sg-sentry-*:log-stream:*",
            "not granted: logs:CreateLogGroup on arn:aws:logs:*:*:log-group:/aws/lambda/sg-sentry-*",
        ),
    ],
    ids=[
        "revoke-anywhere",
        "revoke-any-ec2-resource",
        "revoke-on-rules-too",
        "restore-without-rules",
        "detach-without-groups",
        "describe-on-groups",
        "one-prefix-list",
        "any-topic",
        "any-log-group",
        "streams-only",
    ],
)
def test_a_resource_wider_or_narrower_than_declared_is_a_difference(
    sid: str, resource: str | list[str], difference: str
) -> None:
    # The control: proof that the test above judges each statement's resources, so it can fail.
    found = differences(_changed(sid, resource), needs_of("dev"))
    assert any(difference in line for line in found), found


@pytest.mark.parametrize("stage", STAGES)
def test_removing_any_statement_leaves_a_declared_action_ungranted(stage: str) -> None:
    policy, actions = policy_of(stage), declared_actions(stage)
    lacking = set(missing([policy], actions))
    for index, statement in enumerate(statements(policy)):
        reduced = dict(policy, Statement=[s for i, s in enumerate(statements(policy)) if i != index])
        assert set(missing([reduced], actions)) - lacking, f"statement {statement.get('Sid')} grants nothing needed"


def _parliament_findings(policy: dict[str, Any]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources
        from parliament import analyze_policy_string

    analyzed = analyze_policy_string(json.dumps(policy))
    return [f"{finding.issue}: {finding.detail}" for finding in analyzed.findings]


@pytest.mark.parametrize("name", POLICY_FILES)
def test_parliament_finds_nothing_in_the_shipped_policy(name: str) -> None:
    assert _parliament_findings(shipped(name)) == []


def test_parliament_would_catch_a_resource_that_does_not_fit_the_action() -> None:
    # The control: proof that the linter judges resources, so the test above can fail.
    wrong = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeSecurityGroups", "Resource": "arn:aws:sns:*:*:sg-sentry-*"}
        ],
    }
    assert any("RESOURCE_MISMATCH" in finding for finding in _parliament_findings(wrong))


def test_each_adapter_declares_its_own_permissions() -> None:
    assert {permission.action.split(":")[0] for permission in SecurityGroups.PERMISSIONS} == {"ec2"}
    assert (Permission("sns:Publish", TOPIC),) == SnsNotifier.PERMISSIONS
    assert len(set(REQUIRED)) == len(REQUIRED), "a permission is declared twice"


def test_every_declared_resource_renders_to_an_arn_for_any_place() -> None:
    for permission in (*REQUIRED, *SnsNotifier.ENCRYPTED_TOPIC_PERMISSIONS):
        (rendered,) = permission.render(Place())
        assert "$" not in rendered.resource
        assert rendered.resource == "*" or rendered.resource.startswith("arn:aws:")
    groups = Place(region="eu-west-1", account="123456789012", group_ids=("sg-1", "sg-2"))
    assert [p.resource for p in resources(groups, SecurityGroups.PERMISSIONS) if p.action == "ec2:CreateTags"] == [
        "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1",
        "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-2",
    ]


@pytest.mark.after_suite
def test_every_aws_call_the_suite_saw_is_declared_and_granted() -> None:
    if not RECORDED_ACTIONS:
        pytest.skip("no AWS call was recorded: this test judges the calls the other tests of the run made")
    # `sentry snapshot` and `sentry allow` write the table with the operator's credentials: declared, but no
    # function's (dynamodb:PutItem is the functions' too, but only for the rounds: see ROUNDS_ONLY).
    operators = {permission.action for permission in OPERATOR} - CENTRAL_ACTIONS
    needing = RECORDED_ACTIONS - PERMISSIONS_NOT_NEEDED - operators
    assert needing <= CENTRAL_ACTIONS, "an adapter calls an action it does not declare"
    for stage in STAGES:
        # Each stage's policy grants the calls its declaration covers (the writes to the rounds, conditionally).
        lacking = missing([policy_of(stage)], needing & declared_actions(stage) - WRITES_TO_ROUNDS_ONLY)
        assert lacking == [], f"stage {stage}'s policy lacks an action the sentry calls"


@pytest.mark.after_suite
def test_every_declared_action_is_called_somewhere_in_the_suite() -> None:
    # The declarations are not stale: the whole suite exercises every EC2 and SNS action declared.
    if NOT_THE_WHOLE_SUITE:
        pytest.skip(f"only a run of the whole suite calls everything: {'; '.join(NOT_THE_WHOLE_SUITE)}")
    unexercised = REQUIRED_ACTIONS - RECORDED_ACTIONS
    assert unexercised == {permission.action for permission in LAMBDA_LOGGING}  # Lambda's own calls
