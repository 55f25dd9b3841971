"""What a CloudTrail record says a call changed, as frozen values: the domain's view of an event.

`chalicelib.cloudtrail` reads the raw records into these; everything else
(the policy, the planner, the reports) works from them and never sees a
record. A `SecurityGroupChange` is a call that added, redefined or removed
rules of one group; an `IndirectChange` is a call that may open a guarded
group without a rule change of its own (its guard tag, a prefix list, an
interface, a record CloudTrail truncated).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.rules import Direction, Rule, Source, UnreadableRule

AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
AUTHORIZE_EGRESS = "AuthorizeSecurityGroupEgress"
MODIFY_RULES = "ModifySecurityGroupRules"
REVOKE_INGRESS = "RevokeSecurityGroupIngress"
REVOKE_EGRESS = "RevokeSecurityGroupEgress"
# Revokes matter only where a baseline says what must stay: they may remove an approved rule.
REVOKES = (REVOKE_INGRESS, REVOKE_EGRESS)
HANDLED_EVENT_NAMES = (AUTHORIZE_INGRESS, AUTHORIZE_EGRESS, MODIFY_RULES, *REVOKES)

CREATE_TAGS = "CreateTags"
DELETE_TAGS = "DeleteTags"
TAG_EVENTS = (CREATE_TAGS, DELETE_TAGS)
PREFIX_LIST_EVENTS = ("ModifyManagedPrefixList", "RestoreManagedPrefixListVersion")
# Calls that change the groups an interface carries (only with a group set, for the two Modify* calls).
INTERFACE_EVENTS = (
    "ModifyNetworkInterfaceAttribute",
    "ModifyInstanceAttribute",
    "RunInstances",
    "CreateNetworkInterface",
    "AttachNetworkInterface",
    # Launches by other names; a record with no instance ID in it makes every interface be judged.
    "CreateFleet",
    "RequestSpotInstances",
    "RequestSpotFleet",
    "RunScheduledInstances",
)
NEEDS_GROUP_SET = ("ModifyNetworkInterfaceAttribute", "ModifyInstanceAttribute")
INDIRECT_EVENT_NAMES = (*TAG_EVENTS, *PREFIX_LIST_EVENTS, *INTERFACE_EVENTS)
# What EventBridge delivers to the handler: rule changes and every way around them.
EVENT_NAMES = (*HANDLED_EVENT_NAMES, *INDIRECT_EVENT_NAMES)
# EventBridge's own event (not CloudTrail's) when an instance starts, however it was launched: its "name".
STATE_CHANGE = "EC2 Instance State-change Notification"


@dataclass(frozen=True)
class Actor:
    """Who made the call, from ``userIdentity`` and the request's origin."""

    identity_type: str
    arn: str | None = None
    account_id: str | None = None
    user_name: str | None = None
    # For assumed roles: the role (``sessionContext.sessionIssuer.arn``).
    session_issuer_arn: str | None = None
    invoked_by: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    console: bool = False

    @property
    def principal_arns(self) -> tuple[str, ...]:
        """The ARNs an exemption pattern is matched against."""
        return tuple(arn for arn in (self.arn, self.session_issuer_arn) if arn)

    @property
    def name(self) -> str:
        return self.arn or self.invoked_by or self.user_name or self.identity_type


@dataclass(frozen=True)
class RuleUpdate:
    """A rule redefined in place by ModifySecurityGroupRules.

    CloudTrail records the rule's new definition but not its direction nor
    what it was before; `as_rule` completes it once the direction is known.
    """

    rule_id: str
    protocol: str
    from_port: int | None
    to_port: int | None
    source: Source
    description: str | None

    def as_rule(self, direction: Direction) -> Rule:
        return Rule(direction, self.protocol, self.from_port, self.to_port, self.source, self.description, self.rule_id)


@dataclass(frozen=True)
class SecurityGroupChange:
    """One API call that added or redefined rules of one security group."""

    event_id: str
    event_name: str
    event_time: str
    region: str
    account: str | None
    actor: Actor
    group_id: str | None
    group_name: str | None
    # Rules an Authorize* call created, each with its ID when the record has it.
    added: tuple[Rule, ...] = ()
    # Rules a ModifySecurityGroupRules call redefined.
    updates: tuple[RuleUpdate, ...] = ()
    # Rules a Revoke* call removed, as far as the record says (a revoke by
    # rule ID may not): for the report only, never for a decision.
    removed: tuple[Rule, ...] = ()
    # Parts of the record that could not be read, said in words: the rest
    # is still handled, and the report lists these.
    unreadable: tuple[str, ...] = ()
    # Rules the call created that cannot be read but that the record names by ID: in
    # lockdown mode they are revoked by that ID (no baseline can approve them).
    unreadable_rules: tuple[UnreadableRule, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    # CloudTrail cut part of the record short: with unreadable parts, the group is also judged at once.
    truncated: bool = False

    @property
    def failed(self) -> bool:
        """A failed call changed nothing, so there is nothing to revert."""
        return self.error_code is not None

    @property
    def is_revoke(self) -> bool:
        return self.event_name in REVOKES


@dataclass(frozen=True)
class CallHeader:
    """What every CloudTrail record of a call says about it, whatever the call."""

    event_id: str
    event_name: str
    event_time: str
    region: str
    account: str | None
    actor: Actor
    error_code: str | None
    error_message: str | None


class Indirect(StrEnum):
    GUARD_TAG = "tag change"
    PREFIX_LIST = "prefix list change"
    INTERFACES = "interface change"
    TRUNCATED = "truncated record"
    # A rule opened on a group nobody guards: it may sit beside a guarded group on an interface.
    BESIDE = "rule change beside a guarded group"


@dataclass(frozen=True)
class TagChange:
    created: bool
    # (key, value); a DeleteTags value may be absent (None). Empty with created False: every tag deleted.
    tags: tuple[tuple[str, str | None], ...] = ()
    # CloudTrail truncated the tags: which were set or deleted is not known.
    unknown: bool = False

    @property
    def deletes_every_tag(self) -> bool:
        return not self.created and not self.tags and not self.unknown


@dataclass(frozen=True)
class IndirectChange:
    """One API call that may open a guarded group without a rule change of its own."""

    kind: Indirect
    header: CallHeader
    # GUARD_TAG: the security groups tagged. TRUNCATED: the group the record still names, if any.
    group_ids: tuple[str, ...] = ()
    tags: TagChange | None = None
    prefix_list_ids: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    interface_ids: tuple[str, ...] = ()
    # CloudTrail cut part of the record short ({"omitted": true}).
    truncated: bool = False

    @property
    def actor(self) -> Actor:
        return self.header.actor

    @property
    def event_id(self) -> str:
        return self.header.event_id

    @property
    def event_name(self) -> str:
        return self.header.event_name

    @property
    def region(self) -> str:
        return self.header.region

    @property
    def failed(self) -> bool:
        """A failed call changed nothing."""
        return self.header.error_code is not None

    @property
    def names_nothing(self) -> bool:
        """The record does not say what it changed (truncated): everything of its kind is judged."""
        return not (self.group_ids or self.prefix_list_ids or self.instance_ids or self.interface_ids)


def beside(change: SecurityGroupChange, group_id: str) -> IndirectChange:
    """A rule change on an unguarded group, as the question it raises: is that group on a guarded workload?"""
    return IndirectChange(Indirect.BESIDE, _header_of(change), group_ids=(group_id,))


def truncated_rest(change: SecurityGroupChange, group_id: str) -> IndirectChange:
    """What a truncated rule change could not say about its group: the group is judged again, whole."""
    return IndirectChange(Indirect.TRUNCATED, _header_of(change), group_ids=(group_id,), truncated=True)


def _header_of(change: SecurityGroupChange) -> CallHeader:
    return CallHeader(
        change.event_id,
        change.event_name,
        change.event_time,
        change.region,
        change.account,
        change.actor,
        change.error_code,
        change.error_message,
    )
