"""The approved baseline in DynamoDB, for an organization: one item per account, region and group.

The key is the place (``ACCOUNT/REGION``) and the group's ID; the item holds
the group's entry in the file's own format (`domain.baseline`), prefix lists'
approved entries included. An event reads one item (GetItem), a sweep one
place (Query): nothing is loaded whole at a cold start. Only `sentry
snapshot` writes baseline items; the functions may write only the sweep
rounds' tallies (`sweep_rounds`), under keys starting ``round/`` (the
shipped policy's dynamodb:LeadingKeys condition).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.adapters.arns import TABLE, Permission
from chalicelib.adapters.aws import translated
from chalicelib.domain.accounts import Place
from chalicelib.domain.baseline import ApprovedGroup, Baseline, BaselineError, group_document, group_from_document

# The table's keys (the central template and `sentry setup` create it so).
PLACE_KEY = "place"
ITEM_KEY = "item"


@translated
def items_of(client: Any, table: str, place: str) -> list[dict[str, Any]]:
    """Every item under one `place` key (a baseline's account-region, a sweep round), every page."""
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="#place = :place",  # a placeholder: the key's name is a reserved word
        ExpressionAttributeNames={"#place": PLACE_KEY},
        ExpressionAttributeValues={":place": {"S": place}},
    ):
        items += page.get("Items", [])
    return items


class BaselineTable:
    PERMISSIONS = (Permission("dynamodb:GetItem", TABLE), Permission("dynamodb:Query", TABLE))
    # `sentry snapshot`'s, with the operator's credentials: the functions never write the baseline.
    SNAPSHOT_PERMISSIONS = (Permission("dynamodb:BatchWriteItem", TABLE),)

    def __init__(self, client: Any, table: str, home_account: Callable[[], str] | None = None) -> None:
        self._client = client
        self.table = table
        self._home = home_account

    def group(self, account: str | None, region: str, group_id: str) -> ApprovedGroup | None:
        place = self._place(account, region)
        item = self._get(str(place), group_id)
        return None if item is None else self._entry(place, item)

    def region(self, account: str | None, region: str) -> Baseline:
        place = self._place(account, region)
        groups = {entry.group_id: entry for entry in (self._entry(place, item) for item in self._query(str(place)))}
        return Baseline(groups)

    def put(self, place: Place, groups: Iterable[ApprovedGroup], taken_at: str) -> int:
        """Write these groups' entries at `place` (the snapshot; other groups' stay); how many. Raises `AwsError`."""
        writes = [{"PutRequest": {"Item": self._item(place, group, taken_at)}} for group in groups]
        for start in range(0, len(writes), 25):  # BatchWriteItem's limit
            self._write(writes[start : start + 25])
        return len(writes)

    def _place(self, account: str | None, region: str) -> Place:
        if account is None:
            assert self._home is not None, "the deployment's own account is needed to read its items"
            account = self._home()
        return Place(account, region)

    def _entry(self, place: Place, item: dict[str, Any]) -> ApprovedGroup:
        group_id = item[ITEM_KEY]["S"]
        where = f"table {self.table}, {place} {group_id}"
        try:
            document = json.loads(item["entry"]["S"])
        except (KeyError, TypeError, ValueError) as error:
            raise BaselineError(f"{where}: not a baseline entry ({error})") from None
        try:
            entry = group_from_document(group_id, document)
        except BaselineError as error:
            raise BaselineError(f"{where}: {error}") from None
        if entry.region != place.region:
            raise BaselineError(f"{where}: the entry says region {entry.region}")
        return entry

    def _item(self, place: Place, group: ApprovedGroup, taken_at: str) -> dict[str, Any]:
        document = json.dumps(group_document(group), sort_keys=True, ensure_ascii=False)
        return {**self._key(str(place), group.group_id), "entry": {"S": document}, "taken_at": {"S": taken_at}}

    @staticmethod
    def _key(place: str, item: str) -> dict[str, Any]:
        return {PLACE_KEY: {"S": place}, ITEM_KEY: {"S": item}}

    @translated
    def _get(self, place: str, item: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._client.get_item(TableName=self.table, Key=self._key(place, item)).get(
            "Item"
        )
        return found

    def _query(self, place: str) -> list[dict[str, Any]]:
        return items_of(self._client, self.table, place)

    @translated
    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table: requests}
        for _ in range(5):  # what DynamoDB could not take now is handed back: sent again
            pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
        raise BaselineError(f"table {self.table}: DynamoDB kept {len(pending[self.table])} writes unprocessed")
