"""Shared fixtures: hand-written CloudTrail records, and an AWS that never leaves the process."""

from __future__ import annotations

import copy
import json
import os
import socket
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.client
import botocore.loaders
import botocore.session
import pytest

from chalicelib.adapters import boto
from localaws.moto_fidelity import as_ec2

EVENTS = Path(__file__).parent / "events"
ROOT = Path(__file__).resolve().parent.parent
# moto builds some 1,300 default AMIs (with volumes and snapshots) for every EC2 backend it creates, which
# was 40% of the suite's time; no test needs them (moto does not check an instance's AMI).
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"


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
# The calls themselves, (service, operation, parameters), for the current test only.
DEPLOYED_CALLS: list[tuple[str, str, dict[str, Any]]] = []


# Why this session does not run the whole suite, if it does not: RECORDED_ACTIONS is then only part of what the
# suite exercises. Set once collection is over, whatever the command line was.
NOT_THE_WHOLE_SUITE: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests marked after_suite last: they judge what the rest of the suite did."""
    items.sort(key=lambda item: item.get_closest_marker("after_suite") is not None)


# `make test` runs the suite in two steps: every test but the after-suite ones in parallel (pytest-xdist), each
# worker leaving what it recorded in this folder; then the after-suite tests alone, judging all of it together.
SUITE_RECORD = os.environ.get("SENTRY_SUITE_RECORD")


def pytest_deselected(items: list[pytest.Item]) -> None:
    after_suite = [item.get_closest_marker("after_suite") is not None for item in items]
    if SUITE_RECORD and (all(after_suite) or not any(after_suite)):
        return  # the two steps of `make test`: each runs what the other leaves out, and the record joins them
    if items:  # -k, -m, --deselect, --last-failed, ...
        NOT_THE_WHOLE_SUITE.append(f"{len(items)} test(s) deselected")


def pytest_collection_finish(session: pytest.Session) -> None:
    if SUITE_RECORD and not hasattr(session.config, "workerinput"):
        _read_the_record(Path(SUITE_RECORD))
        return
    every = {path.resolve() for path in (ROOT / "tests").rglob("test_*.py")}
    left = sorted(every - {item.path.resolve() for item in session.items})
    if left:
        NOT_THE_WHOLE_SUITE.append(f"{len(left)} test file(s) not run, such as {left[0].relative_to(ROOT)}")
    if any("::" in arg for arg in session.config.args):
        NOT_THE_WHOLE_SUITE.append("tests chosen by name")
    if hasattr(session.config, "workerinput") and not SUITE_RECORD:
        NOT_THE_WHOLE_SUITE.append("the tests are shared among pytest-xdist workers, each recording its own calls")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of `make test`'s parallel step leaves what it recorded, for the after-suite step."""
    worker = getattr(session.config, "workerinput", None)
    if not SUITE_RECORD or worker is None:
        return
    from tests.faults import INJECTED
    from tests.fuzz.strategies import GENERATED

    record = {
        "actions": sorted(RECORDED_ACTIONS),
        "not_the_whole_suite": NOT_THE_WHOLE_SUITE,
        "generated": GENERATED,
        "injected": INJECTED,
        "tests": session.testscollected,
        "failed": session.testsfailed,
    }
    Path(SUITE_RECORD).mkdir(parents=True, exist_ok=True)
    (Path(SUITE_RECORD) / f"{worker['workerid']}.json").write_text(json.dumps(record), encoding="utf-8")


def _read_the_record(folder: Path) -> None:
    """The after-suite step: what every worker of the parallel step recorded, as if this session had."""
    from tests.faults import INJECTED
    from tests.fuzz.strategies import GENERATED

    records = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]
    if not records:
        NOT_THE_WHOLE_SUITE.append(f"no worker left a record in {folder}: run the parallel step first")
    for record in records:
        RECORDED_ACTIONS.update(record["actions"])
        NOT_THE_WHOLE_SUITE.extend(record["not_the_whole_suite"])
        GENERATED.update(record["generated"])
        INJECTED.update(record["injected"])
        if record["failed"]:
            NOT_THE_WHOLE_SUITE.append(f"{record['failed']} test(s) of the parallel step failed")


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    """Nothing in the suite may reach past this machine: a name other than loopback fails at once."""
    resolve = socket.getaddrinfo

    def loopback(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) not in ("localhost", "::1") and not str(host).startswith("127."):
            raise OSError(f"the test suite tried to reach {host}: only 127.0.0.1 is allowed")
        return resolve(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", loopback)
        yield


@pytest.fixture(autouse=True, scope="session")
def one_botocore_loader() -> Iterator[None]:
    """Every botocore session of the suite shares one loader, so each service's model is read from disk once.

    The sentry starts a new session in every test (chalicelib.aws.reset, so that no credentials carry over),
    and each session would read EC2's model, some megabytes of JSON, again: a fifth of the suite's time.
    """
    shared = botocore.loaders.create_loader()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", lambda *_: shared)
        yield


@pytest.fixture(autouse=True, scope="session")
def moto_as_ec2() -> Iterator[None]:
    """moto's interfaces, DeleteTags and IPv6 egress revokes behave as EC2's (localaws/moto_fidelity.py)."""
    with as_ec2():
        yield


IAM_ACTION_OF = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage"}


@pytest.fixture(autouse=True, scope="session")
def record_aws_actions() -> Iterator[None]:
    """Record every API call whose caller is the deployed code (app.py or chalicelib/), whatever client made it."""
    deployed = (str(ROOT / "chalicelib") + os.sep, str(ROOT / "app.py"))
    send = botocore.client.BaseClient._make_api_call

    def recording(client: Any, operation_name: str, api_params: Any) -> Any:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(deployed):
                service = client.meta.service_model.signing_name
                # IAM authorizes some batch calls as the single call: SendMessageBatch is sqs:SendMessage.
                action = IAM_ACTION_OF.get(f"{service}:{operation_name}", f"{service}:{operation_name}")
                RECORDED_ACTIONS.add(action)
                DEPLOYED_CALLS.append((service, operation_name, copy.deepcopy(api_params)))
                break
            frame = frame.f_back
        return send(client, operation_name, api_params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
        yield


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
    boto.forget()
    DEPLOYED_CALLS.clear()
    yield
    boto.forget()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The resilience figures the README quotes: inputs generated, faults injected."""
    from tests.faults import INJECTED
    from tests.fuzz.strategies import GENERATED

    for name, count in sorted(GENERATED.items()):
        terminalreporter.write_line(f"sg-sentry fuzz: {count} inputs, {name}")
    if INJECTED:
        kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(INJECTED.items()))
        terminalreporter.write_line(f"sg-sentry faults: {sum(INJECTED.values())} injected ({kinds})")
