"""A sweep round fanned out: one SQS message per account and region, and a tally in DynamoDB.

The scheduled sweep opens a round (its tally: the places, how many are
left) and sends one message per place; each worker sweeps one place, writes
what it found under the round, and counts the round down. The worker that
brings it to zero gathers every place's findings into the round's one
summary. The count and the place's name are written in one conditional
update, so a message SQS delivers twice never counts twice. A round still
open when the next one starts (a worker timed out, a message went to the
dead-letter queue) is closed then, naming the places that never reported.
Rounds expire after a day (TTL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.adapters.arns import QUEUE, TABLE, Permission
from chalicelib.adapters.aws import translated
from chalicelib.adapters.baseline_table import ITEM_KEY, PLACE_KEY, items_of
from chalicelib.domain.accounts import Place
from chalicelib.domain.errors import AwsError

ROUND_PREFIX = "round/"
TALLY = "tally"
# Which round was opened last: the next one closes it if it is still open.
LATEST = ROUND_PREFIX + "latest"
KEEP_SECONDS = 86400


class SweepRounds:
    PERMISSIONS = (
        Permission("dynamodb:PutItem", TABLE),
        Permission("dynamodb:UpdateItem", TABLE),
        Permission("dynamodb:GetItem", TABLE),
        Permission("dynamodb:Query", TABLE),
    )

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def open(self, round_id: str, places: Sequence[Place]) -> None:
        """The round's tally (every place still to be swept), and the round as the latest."""
        tally = {"pending": {"N": str(len(places))}, "places": {"SS": [str(place) for place in places] or ["-"]}}
        self._put(ROUND_PREFIX + round_id, TALLY, tally)
        self._put(LATEST, "latest", {"round": {"S": round_id}})

    def record(self, round_id: str, place: Place, findings: Mapping[str, Any]) -> int | None:
        """Keep `place`'s findings and count it done: the places left, or None if it was counted already."""
        self._put(ROUND_PREFIX + round_id, str(place), {"findings": {"S": json.dumps(findings)}})
        return self._count_down(round_id, str(place))

    def findings(self, round_id: str) -> dict[Place, dict[str, Any]]:
        """Each place's findings, once the round is over."""
        found: dict[Place, dict[str, Any]] = {}
        for item in self._query(ROUND_PREFIX + round_id):
            if item[ITEM_KEY]["S"] != TALLY and "findings" in item:
                found[Place.parse(item[ITEM_KEY]["S"])] = json.loads(item["findings"]["S"])
        return found

    def latest(self) -> str | None:
        """The round opened last, if one was."""
        item = self._get(LATEST, "latest")
        return str(item["round"]["S"]) if item and "round" in item else None

    def close(self, round_id: str) -> list[Place] | None:
        """End a round still open: the places that never reported; None if it had ended (or was closed) already."""
        answer = self._close(round_id)
        if answer is None:
            return None
        every = {text for text in answer.get("places", {}).get("SS", []) if text != "-"}
        done = set(answer.get("done", {}).get("SS", []))
        return [Place.parse(text) for text in sorted(every - done)]

    @translated
    def _put(self, place: str, item: str, attributes: dict[str, Any]) -> None:
        record = {
            PLACE_KEY: {"S": place},
            ITEM_KEY: {"S": item},
            "expires": {"N": str(int(time.time()) + KEEP_SECONDS)},
            **attributes,
        }
        self._client.put_item(TableName=self._table, Item=record)

    @translated
    def _get(self, place: str, item: str) -> dict[str, Any] | None:
        key = {PLACE_KEY: {"S": place}, ITEM_KEY: {"S": item}}
        found: dict[str, Any] | None = self._client.get_item(TableName=self._table, Key=key).get("Item")
        return found

    @translated
    def _count_down(self, round_id: str, place: str) -> int | None:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={PLACE_KEY: {"S": ROUND_PREFIX + round_id}, ITEM_KEY: {"S": TALLY}},
                UpdateExpression="ADD #pending :less, #done :place",
                ConditionExpression="NOT contains(#done, :name)",
                ExpressionAttributeNames={"#pending": "pending", "#done": "done"},
                ExpressionAttributeValues={":less": {"N": "-1"}, ":place": {"SS": [place]}, ":name": {"S": place}},
                ReturnValues="UPDATED_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None  # counted already: SQS delivered the message again
        return int(answer["Attributes"]["pending"]["N"])

    @translated
    def _close(self, round_id: str) -> dict[str, Any] | None:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={PLACE_KEY: {"S": ROUND_PREFIX + round_id}, ITEM_KEY: {"S": TALLY}},
                UpdateExpression="SET #pending = :none",
                ConditionExpression="#pending > :none",
                ExpressionAttributeNames={"#pending": "pending"},
                ExpressionAttributeValues={":none": {"N": "0"}},
                ReturnValues="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        attributes: dict[str, Any] = answer.get("Attributes", {})
        return attributes

    def _query(self, place: str) -> list[dict[str, Any]]:
        return items_of(self._client, self._table, place)


class SweepQueue:
    PERMISSIONS = (Permission("sqs:GetQueueUrl", QUEUE), Permission("sqs:SendMessage", QUEUE))
    # What Lambda needs to hand the queue's messages to the worker (no call of the app's own makes them).
    WORKER_PERMISSIONS = (
        Permission("sqs:ReceiveMessage", QUEUE),
        Permission("sqs:DeleteMessage", QUEUE),
        Permission("sqs:GetQueueAttributes", QUEUE),
    )

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name

    def send(self, round_id: str, places: Iterable[Place]) -> int:
        """One message per place (ten per call); the number sent. Raises `AwsError` naming any not sent."""
        url = self._url()
        messages = [{"round": round_id, "place": str(place)} for place in places]
        unsent: list[str] = []
        for start in range(0, len(messages), 10):  # SendMessageBatch's limit
            batch = messages[start : start + 10]
            entries = [{"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(batch)]
            answer = self._batch(url, entries)
            unsent += [f"{batch[int(f['Id'])]['place']} ({f.get('Code')})" for f in answer.get("Failed", [])]
        if unsent:
            raise AwsError(f"could not queue the sweep of {', '.join(unsent)}")
        return len(messages)

    @translated
    def _url(self) -> str:
        return str(self._client.get_queue_url(QueueName=self.name)["QueueUrl"])

    @translated
    def _batch(self, url: str, entries: list[dict[str, Any]]) -> Any:
        return self._client.send_message_batch(QueueUrl=url, Entries=entries)
