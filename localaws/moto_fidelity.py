"""Make moto behave as EC2 does where the sentry's checks depend on it, and nowhere else.

moto 5.2 differs from EC2 in four places that matter here:

* Interfaces. moto keeps security groups on the instance as well as on its
  interfaces (EC2-Classic's model) and reports the union on every interface,
  so attaching an interface gives it the instance's groups and taking a
  group off an interface does not take it off. In a VPC, EC2 keeps groups
  per interface only, and ModifyInstanceAttribute's group set replaces the
  groups of the instance's one interface (EC2 refuses it for an instance
  with several, asking for an interface ID instead).
* DeleteTags with no tags. EC2 deletes every tag of the resources; moto
  deletes none.
* IPv6 egress rules revoked by definition in a VPC without an IPv6 block.
  moto accepts them on authorize and then drops the IPv6 ranges from the
  revoke, answering success with the rule still there; EC2 removes it.
* A revoke of several permissions, one of which does not exist. EC2 refuses
  the whole call and changes nothing; moto removes the permissions before
  the missing one, then refuses.

`as_ec2` applies all four while it is open (in-process moto, or moto's
server run in this process). The tests, the demo and the benchmarks run
inside it; each patch has a test of its own (tests/unit/test_moto_fidelity.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.tags import TagBackend
from moto.ec2.responses.security_groups import SecurityGroups as SecurityGroupsResponse


@contextmanager
def as_ec2() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(_patched(NetworkInterface, "group_set", property(lambda eni: eni._group_set)))
        stack.enter_context(
            _patched(InstanceBackend, "modify_instance_security_groups", _modify_instance_security_groups)
        )
        stack.enter_context(_patched(TagBackend, "delete_tags", _delete_tags(TagBackend.delete_tags)))
        original = SecurityGroupBackend.revoke_security_group_egress
        stack.enter_context(_patched(SecurityGroupBackend, "revoke_security_group_egress", _keep_ipv6(original)))
        for name in ("revoke_security_group_ingress", "revoke_security_group_egress"):
            answer = SecurityGroupsResponse.__dict__[name]
            stack.enter_context(_patched(SecurityGroupsResponse, name, _all_or_nothing(answer)))
        yield


@contextmanager
def _patched(owner: type, name: str, value: Any) -> Iterator[None]:
    saved = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


def _modify_instance_security_groups(self: Any, instance_id: str, new_group_id_list: list[str]) -> Any:
    instance = self.get_instance(instance_id)
    if len(instance.nics) > 1:
        raise EC2ClientError(
            "InvalidInstanceID",
            f"There are multiple interfaces attached to instance '{instance_id}'. "
            "Please specify an interface ID for the operation instead.",
        )
    groups = [self.get_security_group_from_id(group_id) for group_id in new_group_id_list]
    instance.security_groups = groups
    for eni in instance.nics.values():
        eni._group_set = list(groups)
    return instance


def _delete_tags(original: Callable[..., bool]) -> Callable[..., bool]:
    def delete_tags(self: Any, resource_ids: list[str], tags: dict[str, str]) -> bool:
        if not tags:
            for resource_id in resource_ids:
                self.tags[resource_id].clear()
            return True
        return original(self, resource_ids, tags)

    return delete_tags


def _keep_ipv6(original: Callable[..., None]) -> Callable[..., None]:
    def revoke(self: Any, group_name_or_id: str, *args: Any, **kwargs: Any) -> None:
        group = self.get_security_group_by_name_or_id(group_name_or_id, kwargs.get("vpc_id"))
        vpc = self.vpcs.get(group.vpc_id) if group is not None and group.vpc_id else None
        if vpc is None:
            return original(self, group_name_or_id, *args, **kwargs)
        associations = vpc.get_cidr_block_association_set
        # moto drops IPv6 ranges when the VPC has no IPv6 block; for the length of this call it has one.
        vpc.get_cidr_block_association_set = lambda ipv6=False: associations(ipv6) or ([{}] if ipv6 else [])
        try:
            return original(self, group_name_or_id, *args, **kwargs)
        finally:
            del vpc.get_cidr_block_association_set

    return revoke


def _all_or_nothing(answer: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def revoke(self: Any) -> Any:
        if not any(key.startswith("IpPermissions.2.") for key in self.querystring):
            return answer(self)  # one permission: moto's revoke is all or nothing already
        group = self.ec2_backend.get_security_group_by_name_or_id(
            self._get_param("GroupId") or self._get_param("GroupName"), self._get_param("VpcId")
        )
        saved = (list(group.ingress_rules), list(group.egress_rules)) if group is not None else None
        try:
            return answer(self)
        except Exception:
            if group is not None and saved is not None:
                group.ingress_rules, group.egress_rules = saved
            raise

    return revoke
