"""`sentry replay`: send recorded CloudTrail records to the handler, here or in Lambda, and say what it did.

Each record is placed first: where the handler will act on it (the record's
account and region, never the CLI's) against the credentials the CLI runs
with. A single account's stage cannot act in another account with these
credentials, so such a record is refused before the handler sees it.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.log import DecisionLog
from chalicelib.cloudtrail.indirect import parse_change
from chalicelib.cloudtrail.records import EventNotUnderstood, EventOutOfScope, envelope, peek_event_id
from chalicelib.domain.accounts import session_name
from chalicelib.domain.change import SecurityGroupChange
from chalicelib.domain.config import Settings
from sentrycli.project import Project
from sentrycli.summary import decision_lines, in_words, indented, mark_of, messages


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


def event_id(event: dict[str, Any]) -> str:
    return peek_event_id(event) or "(no event ID)"


@dataclass(frozen=True)
class Replayed:
    """One record replayed: its mark (✓ done, – not acted on, ✗ failed or refused), its answer, and in words."""

    event_id: str
    mark: str
    answer: Any
    headline: str
    lines: tuple[str, ...] = ()
    # The decision log: the one the handler wrote here, or the deployed function's log tail.
    log: str = ""
    # Where the record is acted on, when that is not plainly your credentials' account in --region.
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.mark == "✗"

    def text(self) -> str:
        lines = (*(f"note: {note}" for note in self.notes), *self.lines)
        return indented(f"{self.mark} {self.event_id}: {self.headline}", lines)


def replay(
    event: dict[str, Any], settings: Settings, caller: str, region: str, run: Callable[[dict[str, Any]], Replayed]
) -> Replayed:
    """The event placed (`placement`), then `run` (`replay_local` or `replay_deployed`) unless it is refused."""
    notes, refusal = placement(event, settings, caller, region)
    if refusal is not None:
        answer = {"outcome": "refused", "reason": refusal}
        return Replayed(event_id(event), "✗", answer, f"refused: {refusal}", notes=tuple(notes))
    return replace(run(event), notes=tuple(notes))


def placement(event: dict[str, Any], settings: Settings, caller: str, region: str) -> tuple[list[str], str | None]:
    """(what to say about where the record is acted on, why it is refused or None), against the CLI's credentials.

    The handler acts in the record's account and region, whatever the CLI's: a
    record it cannot read is left to the handler, which says so.
    """
    try:
        change = parse_change(event)
    except (EventOutOfScope, EventNotUnderstood):
        return [], None
    account = (change.account if isinstance(change, SecurityGroupChange) else change.header.account) or None
    notes = []
    if change.region != region:
        notes.append(f"the record is of region {change.region}, not {region}: it is acted on in {change.region}")
    if settings.accounts.home_only and account not in (None, caller):
        refusal = (
            f"the record is of account {account}, but your credentials are of {caller} and the stage guards "
            f"only its own account: nothing done (replay it with credentials of {account})"
        )
        return notes, refusal
    if account is None:
        notes.append(f"the record names no account: it is acted on in {caller}, your credentials' account")
    elif account != caller and (settings.accounts.organization or account in settings.accounts.listed):
        role = settings.member_role
        notes.append(
            f"account {account} is entered through the member role {role} (session {session_name(change.event_id)})"
        )
    return notes, None


def replay_local(
    project: Project, stage: str, event: dict[str, Any], env: dict[str, str], home: str | None = None
) -> Replayed:
    """Handle the event in this process with `env` (the stage's settings: `sentrycli.settings`), as Lambda would.

    `home` is the account the credentials are of, as Lambda's context names the function's.
    """
    from chalicelib.usecases.handle_event import handle_event

    project.stage(stage)  # an unknown stage is an error, not an empty environment
    said = io.StringIO()
    try:
        result = handle_event(event, env=env, log=DecisionLog(said), home=home)
    except Exception as error:  # the handler's own failure is the outcome to report, with what it logged
        errors = [line["message"] for line in decision_lines(said.getvalue()) if line.get("level") == "ERROR"]
        answer = {"error": type(error).__name__, "message": str(error)}
        failure = f"{type(error).__name__}: {error}"
        return Replayed(event_id(event), "✗", answer, failure, tuple(errors), said.getvalue())
    mark, headline, lines = in_words(result)
    log = said.getvalue()
    return Replayed(event_id(event), mark, result.as_dict(), headline, (*lines, *messages(log)), log)


def replay_deployed(lambda_client: Any, project: Project, stage: str, event: dict[str, Any]) -> Replayed:
    """Invoke the deployed function: what it answered (or its own error), with the tail of its log.

    Give it a client that does not retry and waits longer than the function's
    timeout (see `invoking_client`): a retried invoke would revert and email twice.
    """
    try:
        response = lambda_client.invoke(
            FunctionName=project.function_name(stage), Payload=json.dumps(event).encode(), LogType="Tail"
        )
    except (ClientError, BotoCoreError) as error:
        answer = {"error": type(error).__name__, "message": str(error)}
        return Replayed(event_id(event), "✗", answer, f"AWS refused the invoke: {error}")
    raw = response["Payload"].read()
    log = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
    try:
        answer = json.loads(raw or b"null")
    except ValueError:
        answer = raw.decode(errors="replace")
    said = tuple(f"{line.get('level')} {line.get('outcome')}: {line.get('message')}" for line in decision_lines(log))
    if "FunctionError" in response:
        own = answer if isinstance(answer, dict) else {}
        kind, message = own.get("errorType", response["FunctionError"]), own.get("errorMessage", answer)
        return Replayed(event_id(event), "✗", answer, f"the function failed: {kind}: {message}", said, log)
    word = answer.get("outcome") if isinstance(answer, dict) else None
    if word is None:
        return Replayed(event_id(event), "✗", answer, f"not understood: the function answered {raw[:200]!r}", said, log)
    mark = mark_of(word)
    details = [answer.get(key) for key in ("reason", "group_id", "account")]
    rules = ", ".join(f"{count} {outcome}" for outcome, count in answer.get("rules", {}).items())
    headline = ": ".join(str(part) for part in (word, *details, rules) if part)
    return Replayed(event_id(event), mark, answer, headline, said, log)


def invoking_client(region: str | None, project: Project, stage: str) -> Any:
    """A Lambda client that waits out the function's timeout and never retries an invoke."""
    import boto3
    from botocore.config import Config

    timeout = int(project.stage(stage).get("lambda_timeout", project.config().get("lambda_timeout", 60)))
    config = Config(read_timeout=timeout + 30, retries={"total_max_attempts": 1})
    return boto3.client("lambda", region_name=region, config=config)
