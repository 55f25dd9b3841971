"""What the security-group port answers: groups, their rules, and what became of each revoke and restore.

Plain values, so the use cases and the reports never see a boto3 answer,
and a fake port in the tests can answer the same way EC2 does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from chalicelib.domain.rules import Rule, UnreadableRule


class RevokeStatus(StrEnum):
    REVOKED = "revoked"
    ALREADY_GONE = "already gone"
    FAILED = "failed"


@dataclass(frozen=True)
class RevokeResult:
    rule: Rule | UnreadableRule
    status: RevokeStatus
    # "Code: message" from AWS when status is FAILED.
    error: str | None = None
    # EC2's answer named this rule among those it revoked: proof enough, no read needed.
    shown: bool = False
    # The rule's ID as EC2's answer gave it, for a rule revoked by its definition.
    revoked_id: str | None = None


class RestoreStatus(StrEnum):
    RESTORED = "restored"
    ALREADY_PRESENT = "already present"
    # A rule to redefine in place no longer exists.
    RULE_GONE = "rule gone"
    FAILED = "failed"


@dataclass(frozen=True)
class RestoreResult:
    # The approved rule put back; for a redefinition, the rule as it was found.
    rule: Rule
    status: RestoreStatus
    error: str | None = None
    # For a redefinition: the approved definition it was given back.
    approved: Rule | None = None
    # EC2's answer named the approved rule among those it created: proof enough, no read needed.
    shown: bool = False


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    name: str | None
    vpc_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupRules:
    """A group's rules as read, and those that could not be read."""

    rules: tuple[Rule, ...] = ()
    unreadable: tuple[UnreadableRule, ...] = ()

    @property
    def rule_ids(self) -> frozenset[str]:
        ids = {rule.rule_id for rule in self.rules} | {item.rule_id for item in self.unreadable}
        return frozenset(rule_id for rule_id in ids if rule_id)


@dataclass(frozen=True)
class ListedGroup:
    info: GroupInfo
    # As DescribeSecurityGroups lists them: without rule IDs.
    rules: GroupRules
