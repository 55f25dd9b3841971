"""The ways around a rule change in the shipped configuration: lockdown mode, guarded by tag, no baseline.

Lockdown without a baseline cannot tell an approved rule from drift, so
judging a group again (after a tag change, a prefix list change, a
truncated record, and in the sweep) holds it to internet mode's test: what
opens it to the internet goes. These are the review's findings on the first
cut of issue 11, each reproduced with real calls and now closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from moto.ec2.models import ec2_backends

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.errors import ListStillChanging
from chalicelib.domain.policy import GroupScope
from localaws import cloudtrail
from sentrycli.snapshot import snapshot, write
from tests.functional.conftest import REGION, Invoke, World, ssh_from

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
SSH = "tcp 22 from 0.0.0.0/0, ingress"
GUARD = {"sg-sentry": "guard"}
SHIPPED = {"SENTRY_GROUP_TAG": "sg-sentry=guard"}  # and SENTRY_MODE's default, lockdown


def from_list(list_id: str, port: int = 22) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "PrefixListIds": [{"PrefixListId": list_id}]}


def widen(world: World, list_id: str) -> dict[str, Any]:
    return world.change(
        "ModifyManagedPrefixList",
        PrefixListId=list_id,
        CurrentVersion=world.list_version(list_id),
        AddEntries=[{"Cidr": "0.0.0.0/0", "Description": "anyone"}],
    )


def subjects(world: World) -> list[str]:
    return [subject for subject, _ in world.messages()]


def test_a_list_widened_under_a_rule_is_caught_without_a_baseline(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[from_list(corp), from_list(corp, 443)])

    answer = sentry(widen(world, corp), **SHIPPED)

    # Only what opens the group to the internet can be told without a baseline: SSH goes, 443 may stay open.
    assert world.rules(group) == {f"tcp 443 from prefix list {corp}, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1} and answer["groups_not_judged"] == 1
    assert subjects(world) == [
        "sg-sentry: reverted 1 rule (exposure only: no baseline) after ModifyManagedPrefixList in eu-west-1"
    ]


def test_ssh_opened_while_the_tag_was_gone_is_caught_without_a_baseline(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    untagged = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry"}])
    opened = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    assert sentry(opened, **SHIPPED)["outcome"] == "not-guarded"  # handled first, while untagged
    sentry(untagged, **SHIPPED)

    assert world.tags(group) == GUARD
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_a_truncated_record_in_lockdown_reverts_what_opens_the_group(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])
    event["detail"]["requestParameters"]["ipPermissions"] = {"omitted": True}
    event["detail"]["responseElements"] = {"omitted": True, "originalSize": 300000}

    answer = sentry(event, **SHIPPED)

    assert world.rules(group) == {"tcp 443 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1}
    assert "(exposure only: no baseline)" in subjects(world)[0]


def test_an_open_group_given_the_guard_tag_is_judged_as_it_is_tagged(world: World, sentry: Invoke) -> None:
    guarded = world.group("guarded", tags=GUARD)
    instance, interface = world.instance(guarded)
    evil = world.group("evil")
    assert sentry(world.change("AuthorizeSecurityGroupIngress", GroupId=evil, IpPermissions=[ssh_from()]), **SHIPPED)
    tagged = world.change("CreateTags", Resources=[evil], Tags=[{"Key": "sg-sentry", "Value": "guard"}])

    sentry(tagged, **SHIPPED)
    sentry(world.change("ModifyInstanceAttribute", InstanceId=instance, Groups=[guarded, evil]), **SHIPPED)

    assert world.rules(evil) == {DEFAULT_EGRESS}  # guarded now, so its open rule went the moment it was tagged
    assert world.interface_groups(interface) == {guarded, evil}


def test_a_guard_tag_that_cannot_be_put_back_still_gets_the_group_judged(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD | {f"k{n}": "v" for n in range(49)})
    untagged = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry"}])
    world.ec2.create_tags(Resources=[group], Tags=[{"Key": "k49", "Value": "v"}])  # 50 tags: no room for one more
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh_from()])

    answer = sentry(untagged, **SHIPPED)  # not raised: no retry can make room for the tag

    assert world.rules(group) == {DEFAULT_EGRESS}  # judged as guarded in this event all the same
    assert answer["outcome"] == "reverted"
    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry: did not restore 1 guard tag, reverted 1 rule")
    assert "carries 50 tags" in document["text"] and "drops out of the sentry's sight" in document["text"]


def test_tags_cut_from_a_record_are_checked_on_the_group(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    event = world.change("CreateTags", Resources=[group], Tags=[{"Key": "sg-sentry", "Value": "off"}])
    event["detail"]["requestParameters"]["tagSet"] = {"omitted": True}

    sentry(event, **SHIPPED)

    assert world.tags(group) == GUARD
    ((subject, _),) = world.messages()
    assert subject.startswith(
        "sg-sentry: restored 1 guard tag (exposure only: no baseline) after a truncated CreateTags"
    )


def test_a_tag_record_naming_no_group_says_it_cannot_tell(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    event = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry"}])
    event["detail"]["requestParameters"] = {"omitted": True, "originalSize": 300000}

    sentry(event, **SHIPPED)

    ((subject, document),) = world.messages()
    assert subject.startswith("sg-sentry: could not tell which groups lost the guard tag; nothing to put right")
    assert "which groups lost their guard tag is not known" in document["text"]


def test_a_group_beside_a_guarded_one_opened_after_it_was_attached_is_taken_off(world: World, sentry: Invoke) -> None:
    guarded, side = world.group("guarded", tags=GUARD), world.group("side")
    instance, interface = world.instance(guarded)
    attached = world.change("ModifyInstanceAttribute", InstanceId=instance, Groups=[guarded, side])
    assert sentry(attached, **SHIPPED)["outcome"] == "clean"  # harmless when attached

    opened = world.change("AuthorizeSecurityGroupIngress", GroupId=side, IpPermissions=[ssh_from()])
    answer = sentry(opened, **SHIPPED)

    assert world.interface_groups(interface) == {guarded}
    assert SSH in world.rules(side)  # not the sentry's group
    assert answer["interfaces_fixed"] == 1
    assert subjects(world) == ["sg-sentry: reverted 1 interface after AuthorizeSecurityGroupIngress in eu-west-1"]


def test_a_list_widened_under_a_group_beside_a_guarded_one_takes_that_group_off(world: World, sentry: Invoke) -> None:
    guarded, side = world.group("guarded", tags=GUARD), world.group("side")
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=side, IpPermissions=[from_list(corp)])
    _, interface = world.instance(guarded, side)

    sentry(widen(world, corp), **SHIPPED)

    assert world.interface_groups(interface) == {guarded}


def test_a_list_still_being_modified_makes_the_event_retried(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[from_list(corp)])
    event = widen(world, corp)
    plist = ec2_backends[cloudtrail.ACCOUNT][REGION].managed_prefix_lists[corp]
    plist.state = "modify-in-progress"  # EC2 applies a change a moment after answering it

    with pytest.raises(ListStillChanging):
        sentry(event, **SHIPPED)
    assert f"tcp 22 from prefix list {corp}, ingress" in world.rules(group)  # nothing judged on old entries

    plist.state = "modify-complete"
    sentry(event, **SHIPPED)  # Lambda's retry
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_an_interface_a_service_manages_is_reported_not_changed(world: World, sweeper: Invoke) -> None:
    guarded, open_ssh = world.group("guarded", tags=GUARD), world.group("open-ssh")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    _, interface = world.instance(guarded, open_ssh)
    eni = ec2_backends[cloudtrail.ACCOUNT][REGION].enis[interface]
    eni.requester_managed, eni.requester_id = True, "amazon-elb"

    answer = sweeper(**SHIPPED)  # does not raise: nothing failed, a person must act where it is managed

    assert world.interface_groups(interface) == {guarded, open_ssh}
    assert answer["outcome"] == "incomplete"
    ((_, document),) = world.messages()
    assert document["interfaces"][0]["outcome"] == "cannot-change"
    assert "amazon-elb manages this interface" in document["interfaces"][0]["error"]


def test_a_group_added_to_an_interface_just_before_the_fix_stays(
    world: World, sweeper: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.ec2_interfaces import NetworkInterfaces

    guarded, open_ssh, added = world.group("guarded", tags=GUARD), world.group("open-ssh"), world.group("added")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    _, interface = world.instance(guarded, open_ssh)
    read = NetworkInterfaces.these

    def someone_adds_a_group_first(self: NetworkInterfaces, ids: Any) -> Any:
        groups = world.interface_groups(interface)
        world.ec2.modify_network_interface_attribute(NetworkInterfaceId=interface, Groups=[*groups, added])
        monkeypatch.setattr(NetworkInterfaces, "these", read)
        return read(self, ids)

    monkeypatch.setattr(NetworkInterfaces, "these", someone_adds_a_group_first)

    sweeper(**SHIPPED)

    assert world.interface_groups(interface) == {guarded, added}


def test_a_record_cut_in_part_has_its_readable_rules_reverted_and_its_group_judged(
    world: World, sentry: Invoke
) -> None:
    group = world.group(tags=GUARD)
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from(port=443), ssh_from()])
    # CloudTrail kept one rule-set item and cut the other.
    items = event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
    items[1] = {"omitted": True}
    del event["detail"]["requestParameters"]["ipPermissions"]["items"][1]

    sentry(event, **SHIPPED)

    # 443 from the world goes by the record (lockdown reverts every rule it names; exposure alone would keep
    # it, 443 may be open), 22 by judging the group again; one message for each.
    assert world.rules(group) == {DEFAULT_EGRESS}
    assert len(world.messages()) == 2


def test_an_unreadable_prefix_list_is_the_internet_and_does_not_hide_the_others(world: World, sentry: Invoke) -> None:
    from chalicelib.adapters import aws

    group = world.group()
    hidden, internal = world.prefix_list("10.1.0.0/16", name="hidden"), world.prefix_list("10.2.0.0/16")
    event = world.change(
        "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(hidden), from_list(internal, 3389)]
    )

    def refuse_one(params: dict[str, Any], **_: Any) -> Any:
        if params.get("body", {}).get("PrefixListId") == hidden:
            from botocore.awsrequest import AWSResponse

            response = AWSResponse("https://ec2", 403, {}, None)
            return response, {"Error": {"Code": "UnauthorizedOperation", "Message": "not shared with you"}}
        return None

    aws.client("ec2", REGION).meta.events.register("before-call.ec2.GetManagedPrefixListEntries", refuse_one)

    answer = sentry(event, SENTRY_GROUP_IDS=group, SENTRY_MODE="internet")

    assert world.rules(group) == {f"tcp 3389 from prefix list {internal}, ingress", DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1, "allowed": 1}
    ((_, document),) = world.messages()
    reverted = next(rule for rule in document["rules"] if rule["outcome"] == "reverted")
    assert "could not be read (UnauthorizedOperation: not shared with you)" in reverted["reason"]


def test_a_read_that_fails_for_a_moment_changes_nothing_and_fails_the_sweep(
    world: World, sweeper: Invoke, tmp_path: Path
) -> None:
    from chalicelib.adapters import aws, ec2_prefix_lists
    from tests.faults import refuse

    held, corp, baseline = _held_with_a_snapshotted_list(world, tmp_path)
    env = {"SENTRY_GROUP_IDS": held, "SENTRY_BASELINE_FILE": str(baseline)}
    ec2_prefix_lists.forget()  # the snapshot read the entries: the sweep must read them itself
    aws.reset()
    refuse("ec2", "GetManagedPrefixListEntries", "InternalError", status=500)

    with pytest.raises(Exception, match="InternalError"):
        sweeper(**env)

    assert f"tcp 22 from prefix list {corp}, ingress" in world.rules(held)  # the approved rule stays
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry sweep: could not read the groups in eu-west-1"


def test_an_approved_list_rule_is_kept_when_its_entries_are_denied_and_the_sweep_says_so(
    world: World, sweeper: Invoke, tmp_path: Path
) -> None:
    from chalicelib.adapters import aws, ec2_prefix_lists
    from tests.faults import refuse

    held, corp, baseline = _held_with_a_snapshotted_list(world, tmp_path)
    ec2_prefix_lists.forget()
    aws.reset()
    refuse("ec2", "GetManagedPrefixListEntries", "UnauthorizedOperation")

    with pytest.raises(Exception, match="could not read the entries of prefix list"):
        sweeper(SENTRY_GROUP_IDS=held, SENTRY_BASELINE_FILE=str(baseline))

    assert f"tcp 22 from prefix list {corp}, ingress" in world.rules(held)
    ((subject, _),) = world.messages()
    assert subject.startswith("sg-sentry sweep: could not check")


def test_a_truncated_tag_call_never_puts_the_guard_on_a_group_nobody_guarded(world: World, sentry: Invoke) -> None:
    unguarded = world.group("unguarded")
    world.ec2.authorize_security_group_ingress(GroupId=unguarded, IpPermissions=[ssh_from(port=8443)])
    created = world.change("CreateTags", Resources=[unguarded], Tags=[{"Key": "CostCenter", "Value": "42"}])
    created["detail"]["requestParameters"]["tagSet"] = {"omitted": True}
    deleted = world.change("DeleteTags", Resources=[unguarded], Tags=[{"Key": "CostCenter"}])
    deleted["detail"]["requestParameters"]["tagSet"] = {"omitted": True}

    sentry(created, **SHIPPED)
    sentry(deleted, **SHIPPED)

    assert world.tags(unguarded) == {}
    assert "tcp 8443 from 0.0.0.0/0, ingress" in world.rules(unguarded)
    (_, (_, document)) = world.messages()  # both reported: which tags changed is not known
    assert document["tags"][0]["outcome"] == "not-restored"


def test_a_door_opened_beside_a_group_while_its_tag_was_gone_is_closed_when_the_tag_comes_back(
    world: World, sentry: Invoke
) -> None:
    guarded, open_ssh = world.group("guarded", tags=GUARD), world.group("open-ssh")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    instance, interface = world.instance(guarded)
    untagged = world.change("DeleteTags", Resources=[guarded], Tags=[{"Key": "sg-sentry"}])
    attached = world.change("ModifyInstanceAttribute", InstanceId=instance, Groups=[guarded, open_ssh])

    assert sentry(attached, **SHIPPED)["outcome"] == "clean"  # handled first, while nothing was guarded
    sentry(untagged, **SHIPPED)

    assert world.tags(guarded) == GUARD
    assert world.interface_groups(interface) == {guarded}


def test_a_list_still_changing_that_only_a_neighbour_references_makes_the_event_retried(
    world: World, sentry: Invoke
) -> None:
    guarded, side = world.group("guarded", tags=GUARD), world.group("side")
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=side, IpPermissions=[from_list(corp)])
    _, interface = world.instance(guarded, side)
    event = widen(world, corp)
    ec2_backends[cloudtrail.ACCOUNT][REGION].managed_prefix_lists[corp].state = "modify-in-progress"

    with pytest.raises(ListStillChanging):
        sentry(event, **SHIPPED)
    assert world.interface_groups(interface) == {guarded, side}


def test_setting_the_guard_tag_on_a_clean_group_sends_nothing(world: World, sentry: Invoke) -> None:
    group = world.group()
    sentry(world.change("CreateTags", Resources=[group], Tags=[{"Key": "sg-sentry", "Value": "guard"}]), **SHIPPED)
    assert world.messages() == []


def test_a_guard_tag_deleted_with_its_group_is_not_a_failure(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    untagged = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry"}])
    world.ec2.delete_security_group(GroupId=group)

    assert sentry(untagged, **SHIPPED)["outcome"] == "already-gone"


def _held_with_a_snapshotted_list(world: World, tmp_path: Path) -> tuple[str, str, Path]:
    """A group whose approved rule comes from an internal prefix list, and the baseline snapshotted of it."""
    held = world.group("held")
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[from_list(corp)])
    baseline = tmp_path / "baseline.json"
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [held]), baseline)
    return held, corp, baseline
