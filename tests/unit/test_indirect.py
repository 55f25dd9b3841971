"""Reading the calls that open a group without a rule change, and the pure decisions about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.cloudtrail.indirect import parse_change
from chalicelib.cloudtrail.records import EventOutOfScope
from chalicelib.domain.change import Indirect, IndirectChange, TagChange
from chalicelib.domain.drift import Fix, back_to_baseline
from chalicelib.domain.guard_tags import guard_tag_decisions
from chalicelib.domain.interfaces import Interface, plan_interfaces
from chalicelib.domain.policy import GroupScope, Mode, Policy, reaches_past_approval
from chalicelib.domain.prefix_lists import ListContents, PrefixList, PrefixListEntry
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind
from tests.conftest import load_event

GROUP = "sg-0a1b2c3d4e5f60718"


def indirect(name: str) -> IndirectChange:
    change = parse_change(load_event(name))
    assert isinstance(change, IndirectChange)
    return change


@pytest.mark.parametrize(
    ("fixture", "kind", "ids"),
    [
        ("delete_tags_guard.json", Indirect.GUARD_TAG, {"group_ids": (GROUP,)}),  # the instance tagged is dropped
        ("create_tags_overwrite.json", Indirect.GUARD_TAG, {"group_ids": (GROUP,)}),
        ("modify_managed_prefix_list.json", Indirect.PREFIX_LIST, {"prefix_list_ids": ("pl-0123456789abcdef0",)}),
        ("modify_network_interface_groups.json", Indirect.INTERFACES, {"interface_ids": ("eni-0123456789abcdef0",)}),
        (
            "run_instances.json",
            Indirect.INTERFACES,
            {"instance_ids": ("i-0aaaaaaaaaaaaaaa1",), "interface_ids": ("eni-0aaaaaaaaaaaaaaa1",)},
        ),
        (
            "attach_network_interface.json",
            Indirect.INTERFACES,
            {"instance_ids": ("i-0aaaaaaaaaaaaaaa1",), "interface_ids": ("eni-0bbbbbbbbbbbbbbb2",)},
        ),
        ("authorize_ingress_truncated.json", Indirect.TRUNCATED, {}),
    ],
)
def test_each_way_around_a_rule_change_is_read_into_what_to_judge(
    fixture: str, kind: Indirect, ids: dict[str, Any]
) -> None:
    change = indirect(fixture)
    assert change.kind is kind
    for field, value in ids.items():
        assert getattr(change, field) == value
    assert change.names_nothing is (not ids)


def test_tags_are_read_with_and_without_values() -> None:
    assert indirect("delete_tags_guard.json").tags.tags == (("sg-sentry", None),)  # type: ignore[union-attr]
    assert indirect("delete_tags_every_tag.json").tags.deletes_every_tag  # type: ignore[union-attr]
    created = indirect("create_tags_overwrite.json").tags
    assert created is not None and created.created and created.tags == (("sg-sentry", "off"), ("team", "web"))


def test_calls_that_cannot_open_a_group_are_out_of_scope() -> None:
    with pytest.raises(EventOutOfScope, match="no group set"):
        parse_change(load_event("modify_instance_type.json"))
    tag_instance = load_event("delete_tags_guard.json")
    tag_instance["requestParameters"]["resourcesSet"]["items"] = [{"resourceId": "i-0123456789abcdef0"}]
    with pytest.raises(EventOutOfScope, match="tags no security group"):
        parse_change(tag_instance)


def test_a_truncated_rule_change_that_still_names_its_group_says_which() -> None:
    record = load_event("authorize_ingress_nested_ruleset.json")
    record["detail"]["requestParameters"]["ipPermissions"] = {"omitted": True}
    record["detail"]["responseElements"] = {"omitted": True}
    change = parse_change(record)
    assert isinstance(change, IndirectChange) and change.kind is Indirect.TRUNCATED
    assert change.group_ids == (GROUP,)


def test_a_truncated_record_that_can_still_be_read_is_read() -> None:
    # The response was cut, but the request says everything: it is handled as any rule change.
    record = load_event("authorize_ingress_every_source_legacy.json")
    record["detail"]["responseElements"] = {"omitted": True}
    assert not isinstance(parse_change(record), IndirectChange)


def test_an_id_is_found_wherever_the_record_holds_it() -> None:
    record = load_event("modify_managed_prefix_list.json")
    record["requestParameters"] = {"prefixListId": "pl-0123456789abcdef0"}  # the query API's spelling
    assert indirect_of(record).prefix_list_ids == ("pl-0123456789abcdef0",)
    record["requestParameters"] = {"PrefixListId": "pl-zz; DROP"}  # not an ID: nothing named
    record["responseElements"] = {}
    assert indirect_of(record).prefix_list_ids == ()


def indirect_of(record: dict[str, Any]) -> IndirectChange:
    change = parse_change(record)
    assert isinstance(change, IndirectChange)
    return change


# --- the guard tag: pure decisions ------------------------------------------------------------------

BY_VALUE = GroupScope(tag_key="sg-sentry", tag_value="guard")
BY_KEY = GroupScope(tag_key="sg-sentry")


def decisions(fixture: str, scope: GroupScope) -> list[tuple[bool, str, str]]:
    change = indirect(fixture)
    return [(d.removes_guard, d.key, d.value) for d in guard_tag_decisions(change, scope)]


def test_removing_or_overwriting_the_guard_tag_puts_it_back() -> None:
    assert decisions("delete_tags_guard.json", BY_VALUE) == [(True, "sg-sentry", "guard")]
    assert decisions("delete_tags_every_tag.json", BY_VALUE) == [(True, "sg-sentry", "guard")]
    assert decisions("create_tags_overwrite.json", BY_VALUE) == [(True, "sg-sentry", "guard")]
    # With a key-only scope, any value guards: overwriting it keeps the group guarded.
    assert decisions("create_tags_overwrite.json", BY_KEY) == [(False, "sg-sentry", "off")]
    assert decisions("delete_tags_guard.json", BY_KEY) == [(True, "sg-sentry", "")]
    assert decisions("delete_tags_guard.json", GroupScope(group_ids=frozenset({GROUP}))) == []  # no guard tag


def test_deleting_another_value_of_the_guard_key_deletes_nothing_that_guards() -> None:
    change = indirect("delete_tags_guard.json")
    other = IndirectChange(change.kind, change.header, change.group_ids, TagChange(False, (("sg-sentry", "off"),)))
    assert guard_tag_decisions(other, BY_VALUE) == []


# --- the side door: pure decisions ------------------------------------------------------------------

OPEN = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"))
WEB = Rule.build(Direction.INGRESS, "tcp", 443, 443, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"))


def test_an_open_group_is_taken_off_every_interface_of_a_guarded_workload() -> None:
    interfaces = [
        Interface("eni-1", "i-1", ("sg-guarded", "sg-open")),
        Interface("eni-2", "i-1", ("sg-open",)),  # same instance: it keeps the guarded group instead
        Interface("eni-3", "i-2", ("sg-open",)),  # another workload, nothing guarded: not ours
        Interface("eni-4", None, ("sg-guarded", "sg-web")),
    ]
    rules = {"sg-open": [OPEN], "sg-web": [WEB]}
    fixes = plan_interfaces(interfaces, {"sg-guarded"}.__contains__, rules, Policy(Mode.LOCKDOWN))
    assert [(f.interface.interface_id, f.keep, [o.group_id for o in f.remove]) for f in fixes] == [
        ("eni-1", ("sg-guarded",), ["sg-open"]),
        ("eni-2", ("sg-guarded",), ["sg-open"]),
    ]


# --- a baseline with prefix lists: the plan -----------------------------------------------------------

CORP = "pl-0123456789abcdef0"
FROM_CORP = Rule.build(Direction.INGRESS, "tcp", 443, 443, Source(SourceKind.PREFIX_LIST, CORP))


def contents(*cidrs: str) -> ListContents:
    plist = PrefixList(CORP, "corp", "111122223333", 2, tuple(PrefixListEntry(c) for c in cidrs))
    return ListContents({CORP: plist}, {CORP: ("10.0.0.0/8",)})


def test_an_approved_list_rule_is_revoked_when_its_list_reaches_further_and_held_back_while_missing() -> None:
    policy = Policy(Mode.LOCKDOWN)

    def unapproved(lists: ListContents) -> Callable[[Rule], str | None]:
        return lambda rule: reaches_past_approval(rule, policy, lists)

    assert back_to_baseline([FROM_CORP], [FROM_CORP], unapproved(contents("10.1.0.0/16"))) == ()
    (revoke,) = back_to_baseline([FROM_CORP], [FROM_CORP], unapproved(contents("0.0.0.0/0")))
    assert revoke.fix is Fix.REVOKE and "now holds 0.0.0.0/0" in revoke.reason
    (held,) = back_to_baseline([], [FROM_CORP], unapproved(contents("0.0.0.0/0")))
    assert held.fix is Fix.HOLD_BACK
    (restore,) = back_to_baseline([], [FROM_CORP], unapproved(contents("10.0.0.0/8")))
    assert restore.fix is Fix.RESTORE


@pytest.mark.parametrize("name", ["CreateFleet", "RequestSpotInstances", "RequestSpotFleet", "RunScheduledInstances"])
def test_launches_by_other_names_are_read_too_and_with_no_id_name_every_interface(name: str) -> None:
    from chalicelib.usecases.rejudge import _selection

    record = load_event("run_instances.json")
    record["eventName"] = name
    record["responseElements"] = {"spotInstanceRequestSet": {"items": [{"spotInstanceRequestId": "sir-0123"}]}}
    record["requestParameters"] = {"launchSpecification": {"groupSet": {"items": [{"groupId": GROUP}]}}}
    change = indirect_of(record)
    assert change.kind is Indirect.INTERFACES and change.names_nothing
    assert _selection(change).every_interface
