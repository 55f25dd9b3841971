"""Class 2 of issue 11: the guard tag is the actor's to change, so changing it is a change the sentry undoes.

Real calls against moto: the tag deleted, overwritten and wiped with every
other tag; SSH opened while the tag was gone; a cached "not guarded" that
must not let a forbidden change through; a baseline entry that keeps a
group guarded whatever its tags say.
"""

from __future__ import annotations

from pathlib import Path

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.policy import GroupScope
from localaws import cloudtrail
from sentrycli.snapshot import snapshot, write
from tests.functional.conftest import REGION, Invoke, World, ssh_from

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
GUARD = {"sg-sentry": "guard"}
TAGGED = {"SENTRY_GROUP_TAG": "sg-sentry=guard", "SENTRY_MODE": "internet"}


def test_deleting_the_guard_tag_puts_it_back_and_reports_who_did_it(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    event = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry"}])
    assert world.tags(group) == {}

    answer = sentry(event, **TAGGED)

    assert world.tags(group) == GUARD
    assert answer["outcome"] == "restored"
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: restored 1 guard tag after DeleteTags in eu-west-1"
    assert document["tags"] == [{"group_id": group, "key": "sg-sentry", "value": "guard", "outcome": "restored"}]
    assert document["actor"]["arn"] == "arn:aws:iam::123456789012:user/alice"
    assert "the guard tag sg-sentry was deleted" in world.emails()[0]


def test_ssh_opened_while_the_tag_was_gone_is_reverted_once_the_tag_event_arrives(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    untagged = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry", "Value": "guard"}])
    opened = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    # The events are handled in either order; here the worse one: the opening first, while untagged.
    assert sentry(opened, **TAGGED)["outcome"] == "not-guarded"
    assert "tcp 22 from 0.0.0.0/0, ingress" in world.rules(group)
    sentry(untagged, **TAGGED)

    assert world.tags(group) == GUARD
    assert world.rules(group) == {DEFAULT_EGRESS}


def test_overwriting_the_guard_value_and_deleting_every_tag_are_both_undone(world: World, sentry: Invoke) -> None:
    overwritten = world.group("overwritten", tags=GUARD | {"team": "web"})
    wiped = world.group("wiped", tags=GUARD | {"team": "web"})
    events = [
        world.change("CreateTags", Resources=[overwritten], Tags=[{"Key": "sg-sentry", "Value": "off"}]),
        world.change("DeleteTags", Resources=[wiped]),  # no tags named: every tag goes
    ]
    assert world.tags(wiped) == {}

    for event in events:
        sentry(event, **TAGGED)

    assert world.tags(overwritten) == GUARD | {"team": "web"}
    assert world.tags(wiped) == GUARD  # the guard tag is put back; the others are not the sentry's


def test_a_tag_change_that_leaves_the_guard_alone_is_nothing_to_do(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    event = world.change("CreateTags", Resources=[group], Tags=[{"Key": "team", "Value": "web"}])
    instance_tag = world.change("CreateTags", Resources=[world.vpc_id], Tags=[{"Key": "sg-sentry", "Value": "off"}])

    assert sentry(event, **TAGGED)["outcome"] == "nothing-to-do"
    assert sentry(instance_tag, **TAGGED)["outcome"] == "out-of-scope"  # not a security group
    assert world.messages() == []


def test_a_cached_not_guarded_never_lets_a_forbidden_change_through(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    # Untag, make a harmless change (the handler, if it cached "not guarded", would now), re-tag, open SSH.
    world.ec2.delete_tags(Resources=[group], Tags=[{"Key": "sg-sentry"}])
    harmless = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from("10.0.0.0/8")])
    assert sentry(harmless, **TAGGED)["outcome"] == "not-guarded"
    world.ec2.create_tags(Resources=[group], Tags=[{"Key": "sg-sentry", "Value": "guard"}])
    opened = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[ssh_from()])

    assert sentry(opened, **TAGGED)["rules"] == {"reverted": 1}
    assert world.rules(group) == {"tcp 22 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}


def test_a_group_with_a_baseline_entry_stays_guarded_whatever_its_tags_say(
    world: World, sentry: Invoke, sweeper: Invoke, tmp_path: Path
) -> None:
    held = world.group("held", tags=GUARD)
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[ssh_from("10.0.0.0/8", 443)])
    baseline = tmp_path / "baseline.json"
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(tag_key="sg-sentry"), REGION), baseline)
    world.ec2.delete_tags(Resources=[held], Tags=[{"Key": "sg-sentry"}])  # its event lost
    env = {"SENTRY_GROUP_TAG": "sg-sentry=guard", "SENTRY_BASELINE_FILE": str(baseline)}
    opened = world.change("AuthorizeSecurityGroupIngress", GroupId=held, IpPermissions=[ssh_from()])

    assert sentry(opened, **env)["rules"] == {"reverted": 1}
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[ssh_from(port=3389)])  # no event
    assert sweeper(**env)["rules"] == {"reverted": 1}
    assert world.rules(held) == {"tcp 443 from 10.0.0.0/8, ingress", DEFAULT_EGRESS}


def test_an_exempt_principal_may_take_a_group_out_of_guard_and_it_is_reported(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    pipeline = cloudtrail.assumed_role("terraform-ci", "run-7")
    event = world.change("DeleteTags", {"identity": pipeline}, Resources=[group], Tags=[{"Key": "sg-sentry"}])

    answer = sentry(event, SENTRY_EXEMPT_PRINCIPALS="arn:aws:iam::*:role/terraform-*", **TAGGED)

    assert world.tags(group) == {} and answer["outcome"] == "allowed"
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry: allowed 1 guard tag after DeleteTags in eu-west-1"


def test_a_dry_run_says_it_would_put_the_tag_back(world: World, sentry: Invoke) -> None:
    group = world.group(tags=GUARD)
    event = world.change("DeleteTags", Resources=[group], Tags=[{"Key": "sg-sentry"}])

    assert sentry(event, SENTRY_DRY_RUN="true", **TAGGED)["outcome"] == "dry-run"
    assert world.tags(group) == {}
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry [dry run]: would restore 1 guard tag after DeleteTags in eu-west-1"
