"""Recognising the sentry's own calls, and its sibling function's, without trusting a session name alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app import app
from chalicelib.adapters.identity import HANDLER_NAMES, OwnIdentity, siblings
from chalicelib.domain.change import Actor

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "sg-sentry-prod-on_security_group_change"
SWEEP = "sg-sentry-prod-sweep"
WORKER = "sg-sentry-prod-sweep_worker"
ACCOUNT = "123456789012"


def session(role: str, name: str, account: str = ACCOUNT) -> Actor:
    return Actor("AssumedRole", arn=f"arn:aws:sts::{account}:assumed-role/{role}/{name}")


class FakeSts:
    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.calls = 0

    def get_caller_identity(self) -> dict[str, Any]:
        self.calls += 1
        return {"Arn": self.arn}


def identity(function: str, own_role: str | None = None) -> tuple[OwnIdentity, FakeSts]:
    sts = FakeSts(f"arn:aws:sts::{ACCOUNT}:assumed-role/{own_role or function}/{function}")
    return OwnIdentity(lambda: sts, function), sts


def test_the_app_registers_exactly_the_handlers_identity_knows() -> None:
    # The sweep's worker only where a stage names its queue (an organization's): app.py reads it at import.
    assert set(app.handler_map) == set(HANDLER_NAMES) - {"sweep_worker"}
    code = "import app, json; print(json.dumps(sorted(app.app.handler_map)))"
    env = {**os.environ, "SENTRY_SWEEP_QUEUE": "sg-sentry-sweep"}
    found = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert set(json.loads(found.stdout)) == set(HANDLER_NAMES)


def test_siblings_follow_chalices_naming_and_nothing_else() -> None:
    assert siblings(HANDLER) == {SWEEP, WORKER}
    assert siblings(SWEEP) == {HANDLER, WORKER}
    assert siblings("sg-sentry-Sweep-AbC123XyZ") == frozenset()  # a CloudFormation name


def test_the_function_itself_and_its_sibling_are_recognised() -> None:
    handler, sts = identity(HANDLER)
    assert handler.made(session(HANDLER, HANDLER))
    assert handler.made(session(SWEEP, SWEEP))
    sweep, _ = identity(SWEEP)
    assert sweep.made(session(HANDLER, HANDLER))
    assert sts.calls == 1  # asked once, then remembered


def test_look_alikes_are_not_the_sentry() -> None:
    handler, _ = identity(HANDLER)
    assert not handler.made(session("attacker", HANDLER))  # the right session name on another role
    assert not handler.made(session("attacker", SWEEP))
    assert not handler.made(session(SWEEP, SWEEP, account="999999999999"))  # another account
    assert not handler.made(session("sg-sentry-prod-other", "sg-sentry-prod-other"))
    assert not handler.made(Actor("IAMUser", arn=f"arn:aws:iam::{ACCOUNT}:user/{HANDLER}"))


def test_a_session_name_that_cannot_be_the_sentry_costs_no_aws_call() -> None:
    handler, sts = identity(HANDLER)
    assert not handler.made(session("terraform", "run-42"))
    assert sts.calls == 0


def test_deployed_by_cloudformation_the_sweep_is_known_by_its_role_arn() -> None:
    # CloudFormation generates names, so no naming convention holds; the merge template passes the ARN.
    role = f"arn:aws:iam::{ACCOUNT}:role/sg-sentry-prod-SweepRole-AbC123"
    sts = FakeSts(f"arn:aws:sts::{ACCOUNT}:assumed-role/stack-OnSecurityGroupChangeRole-X/stack-OnSecurity-Y")
    handler = OwnIdentity(lambda: sts, "stack-OnSecurity-Y", role)
    sweep_session = Actor(
        "AssumedRole",
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/sg-sentry-prod-SweepRole-AbC123/stack-Sweep-Z",
        session_issuer_arn=role,
    )
    assert handler.made(sweep_session) and sts.calls == 0
    other = Actor(
        "AssumedRole",
        arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/other/stack-Sweep-Z",
        session_issuer_arn=f"arn:aws:iam::{ACCOUNT}:role/other",
    )
    assert not handler.made(other)
