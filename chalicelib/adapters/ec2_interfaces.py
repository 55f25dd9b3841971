"""The network-interface adapter: which groups each interface carries, and taking a group off one.

Reads never stop at an interface they cannot read, and a write never raises:
an error comes back in words, for the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.adapters.arns import ANY, NETWORK_INTERFACE, SECURITY_GROUP, Permission
from chalicelib.adapters.aws import describe_error, translated
from chalicelib.domain.interfaces import Interface

PAGE_SIZE = 1000
FILTER_VALUES_LIMIT = 200


class NetworkInterfaces:
    PERMISSIONS = (
        Permission("ec2:DescribeNetworkInterfaces", ANY),
        # Taking a group off an interface names the groups it keeps: IAM checks the interface and each of them.
        Permission("ec2:ModifyNetworkInterfaceAttribute", NETWORK_INTERFACE),
        Permission("ec2:ModifyNetworkInterfaceAttribute", SECURITY_GROUP),
    )

    def __init__(self, client: Any) -> None:
        self._client = client

    @translated
    def every(self) -> list[Interface]:
        """Every interface in the region, in pages of 1,000 (most regions need one call)."""
        return self._read([])

    @translated
    def of_workloads(
        self, instance_ids: Iterable[str], interface_ids: Iterable[str], carrying: Iterable[str] = ()
    ) -> list[Interface]:
        """These interfaces, those carrying these groups, and every interface of their instances and of these.

        The instances' interfaces are read first: a launch names its instances and their interfaces, and
        those need no read of their own. Then only what that read did not find.
        """
        found = {i.interface_id: i for i in self._where("attachment.instance-id", sorted(set(instance_ids)))}
        missing = sorted(set(interface_ids) - set(found))
        found.update((i.interface_id, i) for i in self._where("network-interface-id", missing))
        found.update((i.interface_id, i) for i in self._where("group-id", sorted(set(carrying))))
        others = {i.instance_id for i in found.values() if i.instance_id} - set(instance_ids)
        found.update((i.interface_id, i) for i in self._where("attachment.instance-id", sorted(others)))
        return sorted(found.values(), key=lambda i: i.interface_id)

    @translated
    def these(self, interface_ids: Iterable[str]) -> list[Interface]:
        """Just these interfaces (those that still exist)."""
        return self._where("network-interface-id", sorted(set(interface_ids)))

    def set_groups(self, interface_id: str, group_ids: Sequence[str]) -> str | None:
        """Give an interface exactly these groups; AWS's error in words, or None."""
        try:
            self._client.modify_network_interface_attribute(NetworkInterfaceId=interface_id, Groups=list(group_ids))
        except Exception as error:  # reported, never lost
            return describe_error(error)
        return None

    def _where(self, name: str, values: Sequence[str]) -> list[Interface]:
        found = []
        for start in range(0, len(values), FILTER_VALUES_LIMIT):
            found += self._read([{"Name": name, "Values": list(values[start : start + FILTER_VALUES_LIMIT])}])
        return found

    def _read(self, filters: list[dict[str, Any]]) -> list[Interface]:
        paginator = self._client.get_paginator("describe_network_interfaces")
        options: dict[str, Any] = {"Filters": filters} if filters else {}
        pages = paginator.paginate(**options, PaginationConfig={"PageSize": PAGE_SIZE})
        return [interface for page in pages for item in page["NetworkInterfaces"] if (interface := _interface(item))]


def _interface(item: Mapping[str, Any]) -> Interface | None:
    interface_id = item.get("NetworkInterfaceId")
    if not isinstance(interface_id, str):
        return None
    attachment = item.get("Attachment") or {}
    instance = attachment.get("InstanceId") if isinstance(attachment, Mapping) else None
    groups = tuple(
        str(group["GroupId"])
        for group in item.get("Groups") or []
        if isinstance(group, Mapping) and group.get("GroupId")
    )
    managed = (
        (item.get("RequesterId") or item.get("InterfaceType") or "a service") if item.get("RequesterManaged") else None
    )
    vpc = item.get("VpcId")
    return Interface(
        interface_id,
        instance if isinstance(instance, str) else None,
        groups,
        managed,
        vpc if isinstance(vpc, str) else None,
    )
