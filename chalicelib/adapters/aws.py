"""boto3 clients, made on first use and kept for the life of a warm container.

boto3 is imported here, lazily, and nowhere in the pure modules: importing
the app costs nothing until an event needs AWS, and tests can install moto
before any client exists. boto3 honours AWS_ENDPOINT_URL, which is how the
demo and the rehearsals point the sentry at a local moto server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from chalicelib.domain.errors import AwsError

# Adaptive mode retries throttling (RequestLimitExceeded) and 5xx answers
# with backoff and slows the client down; five attempts in all keep one
# invocation well inside the Lambda timeout.
RETRIES = {"mode": "adaptive", "total_max_attempts": 5}


@dataclass(frozen=True)
class Credentials:
    """A member account's temporary credentials (`adapters.members`), valid until `expires`."""

    account: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires: datetime


# (service, region, member account or None) -> (the access key it was made with, the client). One client per
# member account: a new event's credentials replace the last event's, so a warm container keeps no more.
_clients: dict[tuple[str, str, str | None], tuple[str | None, Any]] = {}
# One session for every client: a session loads botocore's endpoint and
# partition data once, so the SNS client after the EC2 one costs about 7 ms
# instead of 70 (bench/cold.py, BENCHMARKS.md).
_session: Any = None


def client(service: str, region: str, credentials: Credentials | None = None) -> Any:
    """The client for a service and region (with a member's credentials, or the function's), created once."""
    global _session
    key = (service, region, credentials.account if credentials else None)
    access_key = credentials.access_key_id if credentials else None
    made = _clients.get(key)
    if made is None or made[0] != access_key:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        try:
            if _session is None:
                _session = boto3.session.Session()
            # A copy: botocore rewrites the retries mapping it is given.
            config = Config(retries=dict(RETRIES))
            keys = {}
            if credentials is not None:
                keys = {
                    "aws_access_key_id": credentials.access_key_id,
                    "aws_secret_access_key": credentials.secret_access_key,
                    "aws_session_token": credentials.session_token,
                }
            made = (access_key, _session.client(service, region_name=region, config=config, **keys))
        except BotoCoreError as error:  # a profile or region botocore cannot use: said like any AWS failure
            raise AwsError(describe_error(error)) from error
        _clients[key] = made
    return made[1]


def reset() -> None:
    """Forget every client and the session (tests start each AWS mock afresh, credentials included)."""
    global _session
    _clients.clear()
    _session = None


def error_code(error: Exception) -> str:
    """AWS's error code of a botocore `ClientError` ("Unknown" if it has none)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "Unknown"))


def describe_error(error: BaseException) -> str:
    """AWS's "Code: message" for a `ClientError`; the type and text of anything else."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{error_code(error)}: {message}".rstrip(": ")
    if isinstance(error, AwsError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def translated[**P, T](read: Callable[P, T]) -> Callable[P, T]:
    """A read that raises `AwsError` (the project's own) where botocore raised `ClientError` or `BotoCoreError`."""

    @wraps(read)
    def reading(*args: P.args, **kwargs: P.kwargs) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return read(*args, **kwargs)
        except ClientError as error:
            raise AwsError(describe_error(error), error_code(error)) from error
        except BotoCoreError as error:
            raise AwsError(describe_error(error)) from error

    return reading
