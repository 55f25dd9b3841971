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
