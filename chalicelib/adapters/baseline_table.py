"""The approved baseline in DynamoDB, for an organization: one item per account, region and group.

The key is the place (``ACCOUNT/REGION``) and the group's ID; the item holds
the group's entry in the file's own format (`domain.baseline`), prefix lists'
approved entries included. An event reads one group (Query), a sweep one
place (Query): nothing is loaded whole at a cold start. Only `sentry
snapshot` writes baseline items; the functions may write only the sweep
rounds' tallies (`sweep_rounds`), under keys starting ``round/`` (the
shipped policy's dynamodb:LeadingKeys condition).

A group's time-boxed exceptions (`sentry allow`) sit beside its entry, under
the same place and the item ``GROUP/allow/ID``: a key the functions cannot
write, so no function (nor anyone with its role) can forge one. An event
reads the group's entry and its exceptions in one Query (``begins_with``
the group's ID): the one call GetItem of the entry alone made before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.adapters.arns import TABLE, Permission
from chalicelib.adapters.aws import translated
from chalicelib.domain.accounts import Place
from chalicelib.domain.allowances import Allowance, AllowanceError, allowance_document, allowance_from_document
from chalicelib.domain.baseline import ApprovedGroup, Baseline, BaselineError, group_document, group_from_document
from chalicelib.domain.ids import GROUP_ID

# The table's keys (the central template and `sentry setup` create it so).
PLACE_KEY = "place"
ITEM_KEY = "item"
# A group's exception: item GROUP + ALLOW + ID.
ALLOW = "/allow/"


def allowance_item(allowance: Allowance) -> str:
    return f"{allowance.group_id}{ALLOW}{allowance.allowance_id}"


@translated
def items_of(client: Any, table: str, place: str, starting: str | None = None) -> list[dict[str, Any]]:
    """Every item under one `place` key (a baseline's account-region, a sweep round), every page.

    `starting`: only the items whose item key begins so (one group's entry and exceptions).
    """
    condition = "#place = :place"  # a placeholder: the key's name is a reserved word
    names = {"#place": PLACE_KEY}
    values = {":place": {"S": place}}
    if starting is not None:
        condition += " AND begins_with(#item, :starting)"
        names["#item"] = ITEM_KEY
        values[":starting"] = {"S": starting}
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    ):
        items += page.get("Items", [])
    return items


class BaselineTable:
    PERMISSIONS = (Permission("dynamodb:Query", TABLE),)
    # `sentry snapshot`'s, with the operator's credentials: the functions never write the baseline.
    SNAPSHOT_PERMISSIONS = (Permission("dynamodb:BatchWriteItem", TABLE),)
    # `sentry allow`'s, likewise: the functions never write an exception.
    ALLOW_PERMISSIONS = (Permission("dynamodb:PutItem", TABLE),)

    def __init__(self, client: Any, table: str, home_account: Callable[[], str] | None = None) -> None:
        self._client = client
        self.table = table
        self._home = home_account
        # A group's exceptions, as its entry's read found them (this store lives for one event or sweep).
        self._read: dict[tuple[Place, str], tuple[Allowance, ...]] = {}

    def group(self, account: str | None, region: str, group_id: str) -> ApprovedGroup | None:
        """The group's entry; its exceptions come in the same Query, for `allowances`."""
        place = self._place(account, region)
        entries, allowances = self._split(place, self._query(str(place), group_id), group_id)
        self._read[(place, group_id)] = allowances
        return entries.get(group_id)

    def region(self, account: str | None, region: str) -> Baseline:
        place = self._place(account, region)
        groups, allowances = self._split(place, self._query(str(place)))
        return Baseline(groups, allowances=allowances)

    def allowances(self, account: str | None, region: str, group_id: str) -> tuple[Allowance, ...]:
        place = self._place(account, region)
        read = self._read.get((place, group_id))
        if read is None:
            _, read = self._split(place, self._query(str(place), group_id + ALLOW), group_id)
        return read

    def grant(self, place: Place, allowance: Allowance) -> None:
        """Write one exception (`sentry allow`, the operator's credentials). Raises `AwsError`."""
        self._put(self._item_of(place, allowance), "attribute_not_exists(#item)")  # an ID drawn twice overwrites none

    def rewrite(self, place: Place, allowance: Allowance) -> None:
        """Write one exception over the stored one of its ID (`sentry allow --revoke`). Raises `AwsError`."""
        self._put(self._item_of(place, allowance), "attribute_exists(#item)")  # it ends one, never makes one

    def _item_of(self, place: Place, allowance: Allowance) -> dict[str, Any]:
        document = json.dumps(allowance_document(allowance), sort_keys=True, ensure_ascii=False)
        return {**self._key(str(place), allowance_item(allowance)), "allowance": {"S": document}}

    def _split(
        self, place: Place, items: list[dict[str, Any]], group_id: str | None = None
    ) -> tuple[dict[str, ApprovedGroup], tuple[Allowance, ...]]:
        """The entries and the exceptions among these items (of `group_id` only: a shorter ID is a longer's prefix)."""
        groups: dict[str, ApprovedGroup] = {}
        allowances: list[Allowance] = []
        for item in items:
            key = item[ITEM_KEY]["S"]
            owner = key.split(ALLOW, 1)[0]
            if group_id is not None and owner != group_id:
                continue
            if ALLOW in key:
                allowances.append(self._allowance(place, item))
            elif GROUP_ID.fullmatch(key):
                groups[key] = self._entry(place, item)
        return groups, tuple(allowances)

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

    def _allowance(self, place: Place, item: dict[str, Any]) -> Allowance:
        where = f"table {self.table}, {place} {item[ITEM_KEY]['S']}"
        try:
            allowance = allowance_from_document(json.loads(item["allowance"]["S"]))
        except (KeyError, TypeError, ValueError) as error:
            detail = f"not an exception ({error})" if not isinstance(error, AllowanceError) else str(error)
            raise BaselineError(f"{where}: {detail}") from None
        if allowance.region != place.region or item[ITEM_KEY]["S"] != allowance_item(allowance):
            raise BaselineError(f"{where}: the exception names {allowance_item(allowance)} in {allowance.region}")
        return allowance

    def _item(self, place: Place, group: ApprovedGroup, taken_at: str) -> dict[str, Any]:
        document = json.dumps(group_document(group), sort_keys=True, ensure_ascii=False)
        return {**self._key(str(place), group.group_id), "entry": {"S": document}, "taken_at": {"S": taken_at}}

    @staticmethod
    def _key(place: str, item: str) -> dict[str, Any]:
        return {PLACE_KEY: {"S": place}, ITEM_KEY: {"S": item}}

    def _query(self, place: str, starting: str | None = None) -> list[dict[str, Any]]:
        return items_of(self._client, self.table, place, starting)

    @translated
    def _put(self, item: dict[str, Any], condition: str) -> None:
        self._client.put_item(
            TableName=self.table, Item=item, ConditionExpression=condition, ExpressionAttributeNames={"#item": ITEM_KEY}
        )

    @translated
    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table: requests}
        for _ in range(5):  # what DynamoDB could not take now is handed back: sent again
            pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
        raise BaselineError(f"table {self.table}: DynamoDB kept {len(pending[self.table])} writes unprocessed")
