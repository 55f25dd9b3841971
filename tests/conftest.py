"""Shared fixtures: hand-written CloudTrail records, and an AWS that never leaves the process."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.ec2 import GROUP_CACHE

EVENTS = Path(__file__).parent / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    with open(EVENTS / name) as handle:
        return json.load(handle)  # type: ignore[no-any-return]


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture from tests/events/, safe to modify."""
    return copy.deepcopy(_load(name))


# Every AWS operation the sentry's own clients made during this test session,
# as IAM actions ("ec2:RevokeSecurityGroupIngress"): checked against the
# shipped policy by tests/deploy/test_policy.py, after everything else.
RECORDED_ACTIONS: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests marked after_suite last: they judge what the rest of the suite did."""
    items.sort(key=lambda item: item.get_closest_marker("after_suite") is not None)


@pytest.fixture(autouse=True)
def record_aws_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    original = aws.client

    def recording(service: str, region: str) -> Any:
        made = original(service, region)
        if not getattr(made, "_sg_sentry_recorded", False):
            prefix = made.meta.service_model.signing_name

            def record(model: Any, **_: Any) -> None:
                RECORDED_ACTIONS.add(f"{prefix}:{model.name}")

            made.meta.events.register("before-call", record)
            made._sg_sentry_recorded = True
        return made

    monkeypatch.setattr(aws, "client", recording)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's AWS settings, SENTRY_* variables, clients or caches."""
    for name in list(os.environ):
        if name.startswith(("SENTRY_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    # Any credential file lookup lands on nothing real.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    aws.reset()
    GROUP_CACHE.clear()
    yield
    aws.reset()
    GROUP_CACHE.clear()
