"""Faults injected into AWS, counted: the README quotes how many the suite injects."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.security_groups import SecurityGroups
from werkzeug.exceptions import HTTPException

from chalicelib.adapters import aws

REGION = "eu-west-1"
INJECTED: Counter[str] = Counter()


class _Refusal:
    """What a botocore ``before-call`` hook returns to make a call fail as AWS would."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


def refuse(service: str, operation: str, code: str, status: int = 403) -> None:
    """Make the sentry's own client fail `operation` with `code`, every time.

    Injected at ``before-call``, above botocore's retries: for errors that are
    not retried (access denied) this is exactly what the sentry sees.
    """

    def hook(**_: Any) -> tuple[_Refusal, dict[str, Any]]:
        INJECTED[f"{code} on {operation}"] += 1
        return _Refusal(status), {"Error": {"Code": code, "Message": f"{code} injected by the test"}}

    aws.client(service, REGION).meta.events.register(f"before-call.{service}.{operation}", hook)


class Unavailable(HTTPException):
    """An EC2 5xx answer, as moto's server would send it."""

    code = 503
    description = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>Unavailable</Code>'
        "<Message>The service is unavailable.</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    )


def throttle(
    operation: str, times: int, monkeypatch: pytest.MonkeyPatch, fault: str = "RequestLimitExceeded"
) -> list[str]:
    """Make moto answer the first `times` calls of `operation` with a throttling error or a 503.

    The fault is raised inside moto, so every attempt of botocore's retry
    loop reaches it and is counted, and nothing changes while it refuses.
    Backoff waits are skipped; the attempts are not.
    """
    attempts: list[str] = []
    handler = getattr(SecurityGroups, _snake(operation))

    def refusing(self: SecurityGroups) -> Any:
        attempts.append(operation)
        if len(attempts) > times:
            return handler(self)
        INJECTED[f"{fault} on {operation}"] += 1
        if fault == "Unavailable":
            raise Unavailable()
        raise EC2ClientError(fault, "Request limit exceeded.")

    monkeypatch.setattr(SecurityGroups, _snake(operation), refusing)
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)
    monkeypatch.setattr("botocore.retries.bucket.TokenBucket._sleep_amount", lambda self, amount: 0)
    return attempts


def _snake(name: str) -> str:
    return "".join("_" + char.lower() if char.isupper() else char for char in name).lstrip("_")
