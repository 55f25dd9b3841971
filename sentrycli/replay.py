"""`sentry replay`: send recorded CloudTrail records to the handler, here or in Lambda."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from chalicelib.cloudtrail.records import envelope
from sentrycli.project import HANDLER, SWEEP, Project


def load_events(path: Path) -> list[dict[str, Any]]:
    """EventBridge events from a file holding one event or record, a list of them, or a trail's {"Records": [...]}."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("Records"), list):
        data = data["Records"]
    items = data if isinstance(data, list) else [data]
    if not items or not all(_is_record(item) or _is_event(item) for item in items):
        raise ValueError(f"{path} holds no CloudTrail record or EventBridge event")
    return [envelope(item) for item in items]


def _is_record(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("eventName"), str) and "detail" not in item


def _is_event(item: Any) -> bool:
    """An EventBridge event as Lambda receives it: every key Chalice's event class reads."""
    keys = ("version", "account", "region", "detail", "detail-type", "source", "time", "id", "resources")
    return isinstance(item, dict) and all(key in item for key in keys) and isinstance(item["detail"], dict)


def replay_local(project: Project, stage: str, event: dict[str, Any]) -> Any:
    """Invoke the handler in this process, with the stage's environment, as Lambda would."""
    from chalice.test import Client

    from app import app

    project.stage(stage)  # an unknown stage is an error, not an empty environment
    with Client(app, stage_name=stage, project_dir=str(project.root)) as client:
        return client.lambda_.invoke(HANDLER, event).payload


def sweep_local(project: Project, stage: str, region: str) -> Any:
    """Invoke the sweep function in this process, with the stage's environment, as its schedule would."""
    from chalice.test import Client

    from app import app

    project.stage(stage)
    with Client(app, stage_name=stage, project_dir=str(project.root)) as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region=region
        )
        return client.lambda_.invoke(SWEEP, event).payload


def replay_deployed(lambda_client: Any, project: Project, stage: str, event: dict[str, Any]) -> tuple[bool, Any, str]:
    """Invoke the deployed function; return (succeeded, its answer, the tail of its log).

    Give it a client that does not retry and waits longer than the function's
    timeout (see `invoking_client`): a retried invoke would revert and email twice.
    """
    response = lambda_client.invoke(
        FunctionName=project.function_name(stage), Payload=json.dumps(event).encode(), LogType="Tail"
    )
    answer = json.loads(response["Payload"].read() or b"null")
    log = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
    return "FunctionError" not in response, answer, log


def invoking_client(region: str | None, project: Project, stage: str) -> Any:
    """A Lambda client that waits out the function's timeout and never retries an invoke."""
    import boto3
    from botocore.config import Config

    timeout = int(project.stage(stage).get("lambda_timeout", project.config().get("lambda_timeout", 60)))
    config = Config(read_timeout=timeout + 30, retries={"total_max_attempts": 1})
    return boto3.client("lambda", region_name=region, config=config)
