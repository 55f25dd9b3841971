"""`sentry replay`: send recorded CloudTrail records to the handler, here or in Lambda."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from chalicelib.events import envelope
from sentrycli.project import HANDLER, Project


def load_events(path: Path) -> list[dict[str, Any]]:
    """EventBridge events from a file holding one event or record, a list of them, or a trail's {"Records": [...]}."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("Records"), list):
        data = data["Records"]
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{path} holds no CloudTrail record or EventBridge event")
    return [envelope(item) for item in items]


def replay_local(project: Project, stage: str, event: dict[str, Any]) -> Any:
    """Invoke the handler in this process, with the stage's environment, as Lambda would."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name=stage, project_dir=str(project.root)) as client:
        return client.lambda_.invoke(HANDLER, event).payload


def replay_deployed(lambda_client: Any, project: Project, stage: str, event: dict[str, Any]) -> tuple[bool, Any, str]:
    """Invoke the deployed function; return (succeeded, its answer, the tail of its log)."""
    response = lambda_client.invoke(
        FunctionName=project.function_name(stage), Payload=json.dumps(event).encode(), LogType="Tail"
    )
    answer = json.loads(response["Payload"].read() or b"null")
    log = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
    return "FunctionError" not in response, answer, log
