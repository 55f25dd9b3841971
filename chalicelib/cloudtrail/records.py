"""Read a CloudTrail record of a security-group API call, once, into typed values.

The record arrives wrapped in an EventBridge envelope (from the event rule)
or bare (replayed from a trail). Every shape CloudTrail is known to send is
read here and nowhere else:

* lists logged as ``{"items": [...]}``, and empty lists logged as ``{}``;
* permissions nested in ``ipPermissions.items[]`` or flat at the top of
  ``requestParameters`` (``cidrIp``, ``ipProtocol``, ``fromPort``, ``toPort``);
* ``responseElements.securityGroupRuleSet.items[]``, which names every rule
  the call created with its ID and group (records since 2021), and older
  records without it;
* the group named by ``groupName`` only (default VPC, CloudFormation);
* ``ModifySecurityGroupRules``, logged in the request's own PascalCase,
  with one ``SecurityGroupRule`` or a list of them;
* ``RevokeSecurityGroupIngress``/``Egress``, by permission or by rule ID,
  with ``revokedSecurityGroupRuleSet`` in newer responses.

Anything that does not fit raises `EventNotUnderstood`; events that are not
ours raise `EventOutOfScope`. Nothing downstream sees the raw dict: the values are `chalicelib.domain.change`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from chalicelib.domain.change import (
    AUTHORIZE_EGRESS,
    HANDLED_EVENT_NAMES,
    MODIFY_RULES,
    REVOKE_EGRESS,
    REVOKES,
    Actor,
    CallHeader,
    RuleUpdate,
    SecurityGroupChange,
)
from chalicelib.domain.ids import ACCOUNT_ID, GROUP_ID, REGION, RULE_ID
from chalicelib.domain.rules import (
    READ_ERRORS,
    Direction,
    Rule,
    UnreadableRule,
    describe_problem,
    excerpt,
    rule_from_security_group_rule,
    rules_from_ip_permission,
)

DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_SOURCE = "ec2.amazonaws.com"


class EventNotUnderstood(ValueError):
    """The record is one of ours but its shape cannot be read."""


class EventOutOfScope(ValueError):
    """The event is not a security-group change this sentry handles."""


class WrongDirection(ValueError):
    """A rule-set item says it is egress in an ingress call, or the reverse: never revoked through either API."""


def envelope(record: Mapping[str, Any]) -> dict[str, Any]:
    """A bare CloudTrail record wrapped the way EventBridge delivers it (for replays)."""
    if "detail" in record:
        return dict(record)
    source = str(record.get("eventSource", "")).removesuffix(".amazonaws.com")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": f"aws.{source}",
        "account": record.get("recipientAccountId") or "",
        "time": record.get("eventTime") or "",
        "region": record.get("awsRegion") or "",
        "resources": [],
        "detail": dict(record),
    }


def unwrap(raw: object) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(CloudTrail record, EventBridge envelope or {}) of an EC2 API call event; refuses anything else."""
    if not isinstance(raw, Mapping):
        raise EventNotUnderstood(f"event is a {type(raw).__name__}, not a JSON object")
    envelope: Mapping[str, Any] = {}
    record: Mapping[str, Any] = raw
    if "detail" in raw:
        envelope, detail = raw, raw["detail"]
        if envelope.get("detail-type", DETAIL_TYPE) != DETAIL_TYPE:
            raise EventOutOfScope(f"detail-type {envelope.get('detail-type')!r} is not a CloudTrail API call")
        if not isinstance(detail, Mapping):
            raise EventNotUnderstood("event detail is not a JSON object")
        record = detail
    if record.get("eventSource") != EVENT_SOURCE:
        raise EventOutOfScope(f"eventSource {record.get('eventSource')!r} is not {EVENT_SOURCE}")
    return record, envelope


def parse_event(raw: object) -> SecurityGroupChange:
    """Parse an EventBridge event, or a bare CloudTrail record, into a change."""
    record, envelope = unwrap(raw)
    name = record.get("eventName")
    if name not in HANDLED_EVENT_NAMES:
        raise EventOutOfScope(f"eventName {name!r} is not one of {', '.join(HANDLED_EVENT_NAMES)}")
    try:
        return _parse_record(record, envelope, name)
    except EventNotUnderstood:
        raise
    except READ_ERRORS as error:
        event_id = str(record.get("eventID"))[:64]
        raise EventNotUnderstood(f"{name} record {event_id!r}: {describe_problem(error)}") from error


def call_header(record: Mapping[str, Any], envelope: Mapping[str, Any], name: str) -> CallHeader:
    region = _text(record.get("awsRegion")) or _text(envelope.get("region"))
    if not region:
        raise EventNotUnderstood("record has no awsRegion")
    if not REGION.fullmatch(region):
        raise EventNotUnderstood(f"awsRegion {region[:40]!r} is not an AWS region")
    return CallHeader(
        account=_account(record, envelope),
        event_id=_text(record.get("eventID")) or _text(envelope.get("id")) or "unknown",
        event_name=name,
        event_time=_text(record.get("eventTime")) or _text(envelope.get("time")) or "unknown",
        region=region,
        actor=_actor(record),
        error_code=_text(record.get("errorCode")),
        error_message=_text(record.get("errorMessage")),
    )


def _account(record: Mapping[str, Any], envelope: Mapping[str, Any]) -> str | None:
    """The account the call was made in: where the sentry acts, so it must be one account, and plainly one."""
    recorded, delivered = _text(record.get("recipientAccountId")), _text(envelope.get("account"))
    if recorded and delivered and recorded != delivered:
        raise EventNotUnderstood(f"the record is of account {recorded[:20]!r} but arrived as {delivered[:20]!r}")
    account = recorded or delivered
    if account and not ACCOUNT_ID.fullmatch(account):
        raise EventNotUnderstood(f"account {account[:20]!r} is not a 12-digit account ID")
    return account


def _parse_record(record: Mapping[str, Any], envelope: Mapping[str, Any], name: str) -> SecurityGroupChange:
    header = call_header(record, envelope, name)
    params = _mapping(record.get("requestParameters"))
    response = _mapping(record.get("responseElements"))
    change = SecurityGroupChange(
        event_id=header.event_id,
        event_name=name,
        event_time=header.event_time,
        region=header.region,
        account=header.account,
        actor=header.actor,
        group_id=None,
        group_name=_text(params.get("groupName")),
        error_code=header.error_code,
        error_message=header.error_message,
    )
    if name == MODIFY_RULES:
        return _with_updates(change, _mapping(params.get("ModifySecurityGroupRulesRequest")))
    direction = Direction.EGRESS if name in (AUTHORIZE_EGRESS, REVOKE_EGRESS) else Direction.INGRESS
    if name in REVOKES:
        return _with_removed(change, params, response, direction)
    ruleset = _items(response.get("securityGroupRuleSet"))
    group_id = _group_of(params, ruleset)
    if change.failed:
        # The request may be malformed (that can be why it failed); who and
        # which group is all the report needs.
        return replace(change, group_id=_valid_group_id(group_id))
    _require_group(group_id, change.group_name)
    # What AWS actually created, rule by rule, with IDs, is authoritative; the request is the fallback.
    parts = _rule_set_parts(ruleset, direction) if ruleset else _request_parts(params, direction)
    added: list[Rule] = []
    unreadable: list[str] = []
    by_id: list[UnreadableRule] = []
    for number, (what, part, read) in enumerate(parts, start=1):
        # One unreadable permission must not hide the others from the sentry.
        try:
            added += read()
        except READ_ERRORS as error:
            rule_id = _rule_set_id(part) if ruleset and not isinstance(error, WrongDirection) else None
            if rule_id:
                by_id.append(UnreadableRule(direction, excerpt(part), describe_problem(error), rule_id))
            else:
                unreadable.append(f"{what} {number}: {describe_problem(error)}: {excerpt(part)}")
    if not added and not by_id:
        raise EventNotUnderstood("; ".join(unreadable) or "record names no rule")
    return replace(
        change,
        group_id=group_id,
        added=tuple(added),
        unreadable=tuple(unreadable),
        unreadable_rules=tuple(by_id),
    )


def _rule_set_id(item: Any) -> str | None:
    """The rule ID of a rule-set item, if it is one (a revoke by ID must never name anything else)."""
    rule_id = item.get("securityGroupRuleId") if isinstance(item, Mapping) else None
    return rule_id if isinstance(rule_id, str) and RULE_ID.fullmatch(rule_id) else None


# (what it is, the raw fragment, how to read it into rules)
Part = tuple[str, Any, Callable[[], list[Rule]]]


def _group_of(params: Mapping[str, Any], ruleset: list[Any]) -> str | None:
    """The group the request names, else the one its rule set names."""
    return _text(params.get("groupId")) or next(
        (_text(item.get("groupId")) for item in ruleset if isinstance(item, Mapping) and item.get("groupId")), None
    )


def _require_group(group_id: str | None, group_name: str | None) -> None:
    _check_group_id(group_id)
    if not group_id and not group_name:
        raise EventNotUnderstood("record names no security group (no groupId or groupName)")


def _rule_set_parts(ruleset: list[Any], direction: Direction) -> list[Part]:
    return [("rule set item", item, partial(_rule_set_item, item, direction)) for item in ruleset]


def _request_parts(params: Mapping[str, Any], direction: Direction) -> list[Part]:
    permissions = _boto3_shape(params.get("ipPermissions"))
    if permissions:
        return [("permission", p, partial(rules_from_ip_permission, p, direction)) for p in permissions]
    if params.get("sourceSecurityGroupName"):
        raise EventNotUnderstood("flat request names a source group by name and the record has no securityGroupRuleSet")
    # The flat form: one CIDR with protocol and ports at the top of the request.
    flat = {
        "IpProtocol": params["ipProtocol"],
        "FromPort": params.get("fromPort"),
        "ToPort": params.get("toPort"),
        "IpRanges": [{"CidrIp": params["cidrIp"]}],
    }
    return [("flat request", flat, partial(rules_from_ip_permission, flat, direction))]


def _rule_set_item(item: Any, direction: Direction) -> list[Rule]:
    """One ``securityGroupRuleSet`` item; its direction must be the call's."""
    shaped = _boto3_shape(item)
    egress = shaped.get("IsEgress")
    if isinstance(egress, str) and egress.lower() in ("true", "false"):
        egress = egress.lower() == "true"
    if egress is None:
        egress = direction is Direction.EGRESS
    if not isinstance(egress, bool) or egress != (direction is Direction.EGRESS):
        raise WrongDirection(f"isEgress={egress!r} contradicts the call's direction ({direction})")
    return [rule_from_security_group_rule(shaped | {"IsEgress": egress})]


def _with_removed(
    change: SecurityGroupChange, params: Mapping[str, Any], response: Mapping[str, Any], direction: Direction
) -> SecurityGroupChange:
    ruleset = _items(response.get("revokedSecurityGroupRuleSet"))
    group_id = _group_of(params, ruleset)
    if change.failed:
        return replace(change, group_id=_valid_group_id(group_id))
    _require_group(group_id, change.group_name)
    if ruleset:
        parts = _rule_set_parts(ruleset, direction)
    else:
        try:
            parts = _request_parts(params, direction)
        except (EventNotUnderstood, KeyError, TypeError, AttributeError):
            parts = []  # revoked by rule ID, or by a source group's name: the record does not say
    removed: list[Rule] = []
    for _, _, read in parts:
        try:
            removed += read()
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # the decision reads the group's present rules, not these
    return replace(change, group_id=group_id, removed=tuple(removed))


def _with_updates(change: SecurityGroupChange, request: Mapping[str, Any]) -> SecurityGroupChange:
    group_id = _text(request.get("GroupId"))
    if change.failed:
        return replace(change, group_id=_valid_group_id(group_id))
    if not group_id:
        raise EventNotUnderstood("ModifySecurityGroupRulesRequest has no GroupId")
    _check_group_id(group_id)
    entries = request["SecurityGroupRule"]
    # One rule is logged as an object, several as a list (each with a "tag").
    entries = [entries] if isinstance(entries, Mapping) else list(entries)
    updates = []
    for entry in entries:
        spec = dict(entry["SecurityGroupRule"])
        if spec.get("ReferencedGroupId"):
            spec["ReferencedGroupInfo"] = {"GroupId": spec.pop("ReferencedGroupId")}
        rule_id = _text(entry["SecurityGroupRuleId"])
        if not rule_id:
            raise EventNotUnderstood("a modified rule has no SecurityGroupRuleId")
        if not RULE_ID.fullmatch(rule_id):
            raise EventNotUnderstood(f"{rule_id[:40]!r} is not a security group rule ID")
        rule = rule_from_security_group_rule(spec)
        updates.append(RuleUpdate(rule_id, rule.protocol, rule.from_port, rule.to_port, rule.source, rule.description))
    if not updates:
        raise EventNotUnderstood("ModifySecurityGroupRulesRequest names no rule")
    return replace(change, group_id=group_id, updates=tuple(updates))


def _actor(record: Mapping[str, Any]) -> Actor:
    identity = _mapping(record.get("userIdentity"))
    issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
    user_agent = _text(record.get("userAgent"))
    return Actor(
        identity_type=_text(identity.get("type")) or "Unknown",
        arn=_text(identity.get("arn")),
        account_id=_text(identity.get("accountId")),
        user_name=_text(identity.get("userName")) or _text(issuer.get("userName")),
        session_issuer_arn=_text(issuer.get("arn")),
        invoked_by=_text(identity.get("invokedBy")),
        source_ip=_text(record.get("sourceIPAddress")),
        user_agent=user_agent,
        console=str(record.get("sessionCredentialFromConsole")).lower() == "true"
        or (user_agent or "").startswith("console."),
    )


# --- CloudTrail's encoding --------------------------------------------------

# CloudTrail logs the EC2 query API's wire names; boto3 uses these instead.
_BOTO3_NAMES = {"groups": "UserIdGroupPairs"}


def _boto3_shape(value: Any) -> Any:
    """Turn a CloudTrail fragment into boto3's shape: ``{"items": [..]}`` and
    ``{}`` become lists, camelCase keys become PascalCase."""
    if isinstance(value, Mapping):
        if not value:
            return []
        if set(value) == {"items"}:
            return [_boto3_shape(item) for item in value["items"] or []]
        return {_BOTO3_NAMES.get(key, key[:1].upper() + key[1:]): _boto3_shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_boto3_shape(item) for item in value]
    return value


def _items(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        items = value.get("items") or []
        if not isinstance(items, list):
            raise EventNotUnderstood(f"expected a list of items, got {type(items).__name__}")
        return items
    if value in (None, ""):
        return []
    raise EventNotUnderstood(f"expected {{'items': [...]}}, got {type(value).__name__}")


def _mapping(value: Any) -> Mapping[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise EventNotUnderstood(f"expected a JSON object, got {type(value).__name__}")
    return value


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (Mapping, list)):
        raise EventNotUnderstood(f"expected text, got {type(value).__name__}")
    return str(value)


def _valid_group_id(group_id: str | None) -> str | None:
    """The ID if it is one, else None (a failed call's request may hold anything)."""
    return group_id if group_id and GROUP_ID.fullmatch(group_id) else None


def _check_group_id(group_id: str | None) -> None:
    if group_id is not None and _valid_group_id(group_id) is None:
        raise EventNotUnderstood(f"{group_id[:40]!r} is not a security group ID")


def peek_event_id(raw: object) -> str | None:
    """The CloudTrail event ID of an event that could not be parsed, if it has one."""
    if not isinstance(raw, Mapping):
        return None
    detail = raw.get("detail")
    record = detail if isinstance(detail, Mapping) else raw
    for value in (record.get("eventID"), raw.get("id")):
        if isinstance(value, str) and value:
            return value[:128]
    return None
