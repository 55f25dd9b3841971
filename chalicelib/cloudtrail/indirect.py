"""Changes that open a guarded group without touching its rules, read once into typed values.

An insider who may not open a port on a guarded group directly has other
ways in, and each leaves a CloudTrail record of another name:

* the guard tag (``CreateTags``, ``DeleteTags``): take the group out of scope;
* a prefix list its rules reference (``ModifyManagedPrefixList``,
  ``RestoreManagedPrefixListVersion``): widen where the rule reaches;
* the interfaces it is attached to (``ModifyNetworkInterfaceAttribute``,
  ``ModifyInstanceAttribute``, ``RunInstances``, ``CreateNetworkInterface``,
  ``AttachNetworkInterface``): attach another, open group beside it;
* and a record CloudTrail truncated (a field over its size limit comes as
  ``{"omitted": true}``), which cannot say which rules changed.

Instances launched by a service (Auto Scaling, a fleet, a spot request
fulfilled later) leave no API call record of their own that EventBridge
delivers as one; their "EC2 Instance State-change Notification" (state
``running``) says which instance now runs, whoever launched it.

None of these names the rules to revert; each says what to judge again
(`IndirectChange`), and the sentry judges it as the sweep would, at once.
The IDs are found wherever the record holds them (request or response, any
key named like ``prefixListId``, ``instanceId``, ``networkInterfaceId``),
since these records' shapes vary and a missed ID must not mean a missed
change: with no ID found, everything of that kind is judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from chalicelib.cloudtrail.records import EventNotUnderstood, EventOutOfScope, call_header, parse_event, unwrap
from chalicelib.domain.change import (
    CREATE_TAGS,
    EVENT_NAMES,
    HANDLED_EVENT_NAMES,
    INDIRECT_EVENT_NAMES,
    NEEDS_GROUP_SET,
    PREFIX_LIST_EVENTS,
    STATE_CHANGE,
    TAG_EVENTS,
    Actor,
    CallHeader,
    Indirect,
    IndirectChange,
    SecurityGroupChange,
    TagChange,
)
from chalicelib.domain.ids import GROUP_ID, INSTANCE_ID, INTERFACE_ID, PREFIX_LIST_ID

RUNNING = "running"


def parse_change(raw: object) -> SecurityGroupChange | IndirectChange:
    """Any event the handler receives: a rule change, or one of the ways around a rule change.

    Raises `EventOutOfScope` for events that cannot open a guarded group
    (a tag on an instance, an instance type changed) and `EventNotUnderstood`
    for records that cannot be read and do not say they were truncated.
    """
    if isinstance(raw, Mapping) and raw.get("detail-type") == STATE_CHANGE:
        return _instance_running(raw)
    record, envelope = unwrap(raw)
    name = record.get("eventName")
    if name in HANDLED_EVENT_NAMES:
        try:
            change = parse_event(raw)
        except EventNotUnderstood:
            if not truncated(record):
                raise
            header = call_header(record, envelope, str(name))
            return IndirectChange(Indirect.TRUNCATED, header, group_ids=_named_group(record), truncated=True)
        return replace(change, truncated=True) if truncated(record) else change
    if name not in INDIRECT_EVENT_NAMES:
        raise EventOutOfScope(f"eventName {name!r} is not one of {', '.join(EVENT_NAMES)}")
    header = call_header(record, envelope, str(name))
    try:
        return _indirect(record, header, str(name))
    except (EventOutOfScope, EventNotUnderstood):
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise EventNotUnderstood(f"{name} record {header.event_id[:64]!r}: {error}") from error


def _indirect(record: Mapping[str, Any], header: CallHeader, name: str) -> IndirectChange:
    params = record.get("requestParameters")
    response = record.get("responseElements")
    cut = truncated(record)
    if name in TAG_EVENTS:
        return _tag_change(params, header, name, cut)
    if name in PREFIX_LIST_EVENTS:
        ids = _ids(PREFIX_LIST_ID, ("prefixlistid",), params, response)
        kind = Indirect.TRUNCATED if cut and not ids else Indirect.PREFIX_LIST
        return IndirectChange(kind, header, prefix_list_ids=ids, truncated=cut)
    if name in NEEDS_GROUP_SET and not cut and not _has_group_set(params):
        raise EventOutOfScope(f"{name} changes no security group (the request has no group set)")
    instances = _ids(INSTANCE_ID, ("instanceid",), params, response)
    interfaces = _ids(INTERFACE_ID, ("networkinterfaceid",), params, response)
    kind = Indirect.TRUNCATED if cut and not (instances or interfaces) else Indirect.INTERFACES
    return IndirectChange(kind, header, instance_ids=instances, interface_ids=interfaces, truncated=cut)


def _instance_running(event: Mapping[str, Any]) -> IndirectChange:
    """An instance now running: its interfaces are judged, whoever launched it and however."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping) or event.get("source") != "aws.ec2":
        raise EventNotUnderstood("an instance state change without its detail")
    if detail.get("state") != RUNNING:
        raise EventOutOfScope(f"instance state {str(detail.get('state'))[:20]!r}: only a running instance is judged")
    instance = detail.get("instance-id")
    if not isinstance(instance, str) or not INSTANCE_ID.fullmatch(instance):
        raise EventNotUnderstood(f"{str(instance)[:40]!r} is not an instance ID")
    header = call_header({}, {**event, "detail": {}}, STATE_CHANGE)
    header = replace(header, actor=Actor("AWSService", invoked_by="ec2.amazonaws.com"))
    return IndirectChange(Indirect.INTERFACES, header, instance_ids=(instance,))


def _tag_change(params: Any, header: CallHeader, name: str, cut: bool) -> IndirectChange:
    resources = [
        str(item.get("resourceId"))
        for item in _items(params, "resourcesSet")
        if isinstance(item, Mapping) and isinstance(item.get("resourceId"), str)
    ]
    groups = tuple(dict.fromkeys(r for r in resources if GROUP_ID.fullmatch(r)))
    if cut and not groups:
        return IndirectChange(Indirect.TRUNCATED, header, truncated=True)
    if not groups:
        raise EventOutOfScope(f"{name} tags no security group")
    tags = tuple(
        (str(item["key"]), None if item.get("value") is None else str(item["value"]))
        for item in _items(params, "tagSet")
        if isinstance(item, Mapping) and item.get("key") is not None
    )
    # With the record cut short, "no tags" may mean "tags not recorded": the guard is checked either way.
    change = TagChange(name == CREATE_TAGS, tags, unknown=cut)
    return IndirectChange(Indirect.GUARD_TAG, header, group_ids=groups, tags=change, truncated=cut)


def truncated(record: Mapping[str, Any]) -> bool:
    """CloudTrail cut part of the record short: a field over its size limit comes as {"omitted": true}."""
    return any(_omitted(record.get(field)) for field in ("requestParameters", "responseElements"))


def _omitted(value: Any) -> bool:
    if isinstance(value, Mapping):
        return value.get("omitted") in (True, "true") or any(_omitted(v) for v in value.values())
    if isinstance(value, list):
        return any(_omitted(v) for v in value)
    return False


def _named_group(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The group a truncated rule-change record still names, if it names exactly one."""
    found = set(_ids(GROUP_ID, ("groupid",), record.get("requestParameters"), record.get("responseElements")))
    return tuple(found) if len(found) == 1 else ()


def _ids(pattern: re.Pattern[str], keys: tuple[str, ...], *parts: Any) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            value
            for part in parts
            for key, value in _walk(part)
            if key.lower() in keys and isinstance(value, str) and pattern.fullmatch(value)
        )
    )


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    if depth > 12:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield str(key), inner
            yield from _walk(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner, depth + 1)


def _has_group_set(params: Any) -> bool:
    return any(key.lower() in ("groupset", "groupid", "groups") for key, _ in _walk(params))


def _items(params: Any, key: str) -> list[Any]:
    if not isinstance(params, Mapping):
        return []
    value = params.get(key)
    items = value.get("items") if isinstance(value, Mapping) else value
    return items if isinstance(items, list) else []
