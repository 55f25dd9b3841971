"""The prefix-list adapter: what the lists that rules reference hold now, read from EC2.

One DescribeManagedPrefixLists for every list in question (by filter, so a
list that does not exist is simply absent, not an error for all), then the
entries of each list at the version just described. A version's entries
never change, so they are cached per warm container by (region, list,
version): a list is read again only once it has been modified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.arns import ANY, PREFIX_LIST, Permission
from chalicelib.adapters.aws import describe_error, error_code, translated
from chalicelib.domain.prefix_lists import PrefixList, PrefixListEntry

# EC2 takes at most 200 values in one filter.
FILTER_VALUES_LIMIT = 200
# Entries by (region, list ID, version); cleared whole when it grows past this many versions.
_ENTRY_CACHE: dict[tuple[str, str, int], tuple[PrefixListEntry, ...]] = {}
ENTRY_CACHE_LIMIT = 1000


class PrefixLists:
    PERMISSIONS = (
        Permission("ec2:DescribeManagedPrefixLists", ANY),
        # Any list a guarded rule may reference: AWS-managed lists belong to the account "aws".
        Permission("ec2:GetManagedPrefixListEntries", PREFIX_LIST),
    )

    def __init__(self, client: Any) -> None:
        self._client = client
        self._region: str = client.meta.region_name

    @translated
    def read(self, list_ids: Iterable[str]) -> dict[str, PrefixList | None]:
        """Each list with its entries, or None for a list EC2 does not have; no call for no list.

        Raises `AwsError` when DescribeManagedPrefixLists fails; a list whose entries
        cannot be read comes back with its `error`, the others as they are.
        """
        wanted = sorted(set(list_ids))
        found: dict[str, PrefixList] = {}
        paginator = self._client.get_paginator("describe_managed_prefix_lists")
        for start in range(0, len(wanted), FILTER_VALUES_LIMIT):
            chunk = wanted[start : start + FILTER_VALUES_LIMIT]
            for page in paginator.paginate(Filters=[{"Name": "prefix-list-id", "Values": chunk}]):
                for item in page["PrefixLists"]:
                    plist = self._with_entries(item)
                    found[plist.list_id] = plist
        return {list_id: found.get(list_id) for list_id in wanted}

    def _with_entries(self, item: dict[str, Any]) -> PrefixList:
        list_id = str(item["PrefixListId"])
        version = item.get("Version")
        version = int(version) if isinstance(version, int) else None
        listed = PrefixList(
            list_id, item.get("PrefixListName") or None, item.get("OwnerId"), version, (), item.get("State")
        )
        try:
            return replace(listed, entries=self._entries(list_id, version))
        except ClientError as error:
            if _passing(error):
                raise  # throttled or failing past botocore's retries: the event is retried, the sweep fails
            # One list nobody may read (shared, then unshared; a tag-based deny) must not hide the others:
            # it is judged as the internet, with AWS's error in the report.
            return replace(listed, error=describe_error(error))

    def _entries(self, list_id: str, version: int | None) -> tuple[PrefixListEntry, ...]:
        key = (self._region, list_id, version) if version is not None else None
        entries = _ENTRY_CACHE.get(key) if key else None
        if entries is None:
            options: dict[str, Any] = {"PrefixListId": list_id}
            if version is not None:
                options["TargetVersion"] = version
            pages = self._client.get_paginator("get_managed_prefix_list_entries").paginate(**options)
            entries = tuple(
                PrefixListEntry(str(entry["Cidr"]), entry.get("Description") or None)
                for page in pages
                for entry in page["Entries"]
            )
            if key:
                if len(_ENTRY_CACHE) >= ENTRY_CACHE_LIMIT:
                    _ENTRY_CACHE.clear()
                _ENTRY_CACHE[key] = entries
        return entries


# Errors that say nothing of the list: a later try may succeed.
PASSING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "InternalError", "ServiceUnavailable", "Unavailable"}
)


def _passing(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(error) in PASSING_CODES or int(status or 0) >= 500


def forget() -> None:
    """Forget cached entries (tests start each AWS mock afresh)."""
    _ENTRY_CACHE.clear()
