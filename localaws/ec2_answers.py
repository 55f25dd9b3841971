"""Make moto answer a revoke as EC2 does: naming the rules it revoked.

EC2 answers `RevokeSecurityGroupIngress/Egress` with `RevokedSecurityGroupRules`,
each rule revoked with its ID and definition (botocore's model has the
field); moto 5.2 answers only `Return`. The sentry takes EC2's list as proof
that a rule is gone and reads the group back only when the answer lacks it,
so against plain moto every revoke costs a read that EC2 would spare.

The benchmarks use this to measure the path a deployed sentry takes, and
the tests use it to check that path; plain moto keeps checking the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses.security_groups import SecurityGroups as SecurityGroupsResponse

RevokeAnswer = Callable[[SecurityGroupsResponse], ActionResult]


@contextmanager
def revokes_name_their_rules() -> Iterator[None]:
    """While open, moto's revokes (in-process or its server in this process) name what they revoked."""
    saved = {
        name: getattr(SecurityGroupsResponse, name)
        for name in ("revoke_security_group_ingress", "revoke_security_group_egress")
    }
    for name, answer in saved.items():
        setattr(SecurityGroupsResponse, name, _naming(answer, egress=name.endswith("egress")))
    try:
        yield
    finally:
        for name, answer in saved.items():
            setattr(SecurityGroupsResponse, name, answer)


def _naming(answer: RevokeAnswer, egress: bool) -> RevokeAnswer:
    def revoke(self: SecurityGroupsResponse) -> ActionResult:
        group = self.ec2_backend.get_security_group_by_name_or_id(
            self._get_param("GroupId") or self._get_param("GroupName"), self._get_param("VpcId")
        )
        before = list(group.egress_rules if egress else group.ingress_rules) if group is not None else []
        answer(self)  # raises as moto does: nothing revoked, nothing to name
        after = {rule.id for rule in (group.egress_rules if egress else group.ingress_rules)} if group else set()
        revoked = [_revoked_rule(rule) for rule in before if rule.id not in after]
        return ActionResult({"Return": True, "RevokedSecurityGroupRules": revoked})

    return revoke


def _revoked_rule(rule: Any) -> dict[str, Any]:
    referenced = rule.referenced_group_info or {}
    fields = {
        "SecurityGroupRuleId": rule.id,
        "GroupId": rule.group_id,
        "IsEgress": rule.is_egress,
        "IpProtocol": rule.ip_protocol,
        "FromPort": rule.from_port,
        "ToPort": rule.to_port,
        "CidrIpv4": rule.cidr_ipv4,
        "CidrIpv6": rule.cidr_ipv6,
        "PrefixListId": rule.prefix_list_id,
        "ReferencedGroupId": referenced.get("GroupId"),
        "Description": rule.description,
    }
    return {key: value for key, value in fields.items() if value is not None}
