"""What the benchmarks share: counting AWS calls, moto's server made fair, peak memory, the machine."""

from __future__ import annotations

import os
import platform
import time
import urllib.request
from typing import Any


class Calls:
    """Counts the AWS operations made while `counting` is on, whoever makes them, and the time inside them."""

    def __init__(self, counting: bool = False) -> None:
        import botocore.client

        self.counts: dict[str, int] = {}
        # The parameters of the last call of each operation, while counting.
        self.last: dict[str, Any] = {}
        # Seconds inside each kind of call (moto answering, the round trip, botocore) while counting.
        self.seconds: dict[str, float] = {}
        self.counting = counting
        send = botocore.client.BaseClient._make_api_call

        def counted(client: Any, operation: str, params: Any) -> Any:
            if not self.counting:
                return send(client, operation, params)
            self.counts[operation] = self.counts.get(operation, 0) + 1
            self.last[operation] = params
            began = time.perf_counter()
            try:
                return send(client, operation, params)
            finally:
                self.seconds[operation] = self.seconds.get(operation, 0.0) + time.perf_counter() - began

        botocore.client.BaseClient._make_api_call = counted

    @property
    def waited(self) -> float:
        return sum(self.seconds.values())

    def clear(self) -> None:
        self.counts.clear()
        self.seconds.clear()


def empty_account(endpoint: str) -> None:
    """moto keeps its state per process, not per server: start from an empty account."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()


def machine() -> str:
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def linear_moto() -> None:
    """Take two quadratic paths out of moto's server; its answers stay exactly the same.

    * A ``group-id`` filter is matched against every rule with one regular
      expression per value (AWS filters accept globs): 200 IDs over 10,000
      rules is two million regex matches a call. Plain IDs become a set lookup.
    * A resource's tags are found by scanning every tag in the region, three
      times per group described: describing 5,000 tagged groups takes
      minutes. They are read from the resource's own entry instead.

    Without this the 5,000-group run measures moto's loops, not the sentry;
    the figures keep AWS's time apart from the sentry's anyway.
    """
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.security_groups import SecurityGroupRule
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    glob_match = SecurityGroupRule.filter_group_id

    def filter_group_id(rule: Any, values: list[Any]) -> bool:
        if any("*" in value or "?" in value for value in values):
            return bool(glob_match(rule, values))
        return rule.group_id in values

    def get_tags(resource: Any) -> list[dict[str, str]]:
        if not resource.id:
            return []
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource.id), "")
        tags = resource.ec2_backend.tags.get(resource.id, {})
        return [{"resource_id": resource.id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]

    SecurityGroupRule.filter_group_id = filter_group_id  # type: ignore[method-assign,assignment]
    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign,assignment]


def peak_rss_mb() -> float:
    """This process's peak resident memory: what Lambda reports as "Max Memory Used".

    VmHWM, not getrusage's ru_maxrss: on Linux the latter survives exec, so a
    child would report the peak of the (large) process that forked it.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
