"""The shipped IAM policy grants exactly what the sentry calls: declared, linted, and seen."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from chalicelib.adapters.permissions import REQUIRED_PERMISSIONS

from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.identity import PERMISSIONS_NOT_NEEDED
from chalicelib.adapters.sns import SnsNotifier
from sentrycli.iampolicy import granted_actions, missing, statements
from tests.conftest import RECORDED_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
POLICY_FILES = sorted({stage["iam_policy_file"] for stage in CONFIG["stages"].values() if "iam_policy_file" in stage})


def shipped(name: str) -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / name).read_text())  # type: ignore[no-any-return]


def test_automatic_policy_generation_is_off_and_every_stage_ships_a_policy() -> None:
    # Chalice's analyzer reads only app.py and cannot see calls made in chalicelib.
    assert CONFIG["autogen_policy"] is False
    assert POLICY_FILES and all("iam_policy_file" in stage for stage in CONFIG["stages"].values())


@pytest.mark.parametrize("name", POLICY_FILES)
def test_the_policy_grants_exactly_the_declared_actions(name: str) -> None:
    policy = shipped(name)
    assert missing([policy], REQUIRED_PERMISSIONS) == []
    assert granted_actions(policy) == REQUIRED_PERMISSIONS  # nothing more
    assert not any("*" in action for action in granted_actions(policy))


@pytest.mark.parametrize("name", POLICY_FILES)
def test_removing_any_statement_leaves_a_declared_action_ungranted(name: str) -> None:
    policy = shipped(name)
    for index, statement in enumerate(statements(policy)):
        reduced = dict(policy, Statement=[s for i, s in enumerate(statements(policy)) if i != index])
        assert missing([reduced], REQUIRED_PERMISSIONS), f"statement {statement.get('Sid')} grants nothing needed"


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


def test_each_adapter_declares_its_own_actions() -> None:
    assert {action.split(":")[0] for action in SecurityGroups.PERMISSIONS} == {"ec2"}
    assert frozenset({"sns:Publish"}) == SnsNotifier.PERMISSIONS


@pytest.mark.after_suite
def test_every_aws_call_the_suite_saw_is_declared_and_granted(request: pytest.FixtureRequest) -> None:
    if not RECORDED_ACTIONS:
        pytest.skip("run with the whole suite: this test judges the AWS calls the other tests made")
    needing = RECORDED_ACTIONS - PERMISSIONS_NOT_NEEDED
    assert needing <= REQUIRED_PERMISSIONS, "an adapter calls an action it does not declare"
    for name in POLICY_FILES:
        assert missing([shipped(name)], needing) == [], f"{name} lacks an action the sentry calls"
    if request.config.invocation_params.args:
        return  # a partial run need not exercise everything
    # And the declarations are not stale: the whole suite exercised every EC2 and SNS action declared.
    unexercised = REQUIRED_PERMISSIONS - RECORDED_ACTIONS
    assert unexercised == {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
