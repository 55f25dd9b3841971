"""Class 1 of issue 11: a prefix list is judged by what it holds, when it is referenced and whenever it changes.

Real calls against moto: a list holding 0.0.0.0/0, a list widened after it
was referenced (no security-group event at all), a list shared with an
unguarded group, AWS-managed lists, and a baseline that approved a list's
rule with the entries it had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
from chalicelib.domain.policy import GroupScope
from sentrycli.snapshot import snapshot, write
from tests.functional.conftest import REGION, Invoke, World

DEFAULT_EGRESS = "all traffic to 0.0.0.0/0, egress"
INTERNET = {"SENTRY_MODE": "internet"}


def from_list(list_id: str, port: int = 22) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "PrefixListIds": [{"PrefixListId": list_id}]}


def widen(world: World, list_id: str, cidr: str = "0.0.0.0/0", description: str = "anyone") -> dict[str, Any]:
    """Add an entry to the list (a new version), and return the event AWS would deliver for it."""
    return world.change(
        "ModifyManagedPrefixList",
        PrefixListId=list_id,
        CurrentVersion=world.list_version(list_id),
        AddEntries=[{"Cidr": cidr, "Description": description}],
    )


def test_a_rule_from_a_list_that_holds_the_internet_is_reverted_and_the_email_names_the_entry(
    world: World, sentry: Invoke
) -> None:
    group = world.group()
    anyone = world.prefix_list("10.0.0.0/8", "0.0.0.0/0")
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(anyone)])

    answer = sentry(event, SENTRY_GROUP_IDS=group, **INTERNET)

    assert world.rules(group) == {DEFAULT_EGRESS}
    assert answer["rules"] == {"reverted": 1}
    ((_, document),) = world.messages()
    assert document["rules"][0]["reason"] == (
        f"opens tcp 22 to the internet through prefix list {anyone} (corp), which holds 0.0.0.0/0"
    )
    assert "which holds 0.0.0.0/0" in world.emails()[0]


def test_a_rule_from_a_list_of_internal_addresses_stays(world: World, sentry: Invoke) -> None:
    group = world.group()
    internal = world.prefix_list("10.0.0.0/8", "192.168.0.0/16")
    event = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(internal)])

    assert sentry(event, SENTRY_GROUP_IDS=group, **INTERNET)["rules"] == {"allowed": 1}
    assert f"tcp 22 from prefix list {internal}, ingress" in world.rules(group)


def test_a_list_widened_later_reverts_the_guarded_rule_and_spares_its_other_users(world: World, sentry: Invoke) -> None:
    guarded, unguarded = world.group("guarded"), world.group("unguarded")
    shared = world.prefix_list("10.0.0.0/8")
    for group in (guarded, unguarded):
        world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[from_list(shared)])
    # No security-group call at all: only the list changes.
    event = widen(world, shared)

    answer = sentry(event, SENTRY_GROUP_IDS=guarded, **INTERNET)

    assert world.rules(guarded) == {DEFAULT_EGRESS}
    assert f"tcp 22 from prefix list {shared}, ingress" in world.rules(unguarded)  # not ours to change
    entries = world.ec2.get_managed_prefix_list_entries(PrefixListId=shared)["Entries"]
    assert {entry["Cidr"] for entry in entries} == {"10.0.0.0/8", "0.0.0.0/0"}  # the list itself is left alone
    assert answer["rules"] == {"reverted": 1} and answer["groups_checked"] == 1
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: reverted 1 rule after ModifyManagedPrefixList in eu-west-1"
    assert '0.0.0.0/0 ("anyone")' in document["groups"][0]["rules"][0]["reason"]
    assert document["actor"]["arn"] == "arn:aws:iam::123456789012:user/alice"


def test_a_list_change_that_opens_nothing_sends_nothing(world: World, sentry: Invoke) -> None:
    group = world.group()
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[from_list(corp)])

    answer = sentry(widen(world, corp, "192.168.0.0/16", "branch"), SENTRY_GROUP_IDS=group, **INTERNET)

    assert answer["outcome"] == "clean" and answer["groups_checked"] == 1
    assert f"tcp 22 from prefix list {corp}, ingress" in world.rules(group)
    assert world.messages() == []


def test_the_sweep_judges_lists_by_their_entries_in_internet_mode(world: World, sweeper: Invoke) -> None:
    group = world.group(tags={"sg-sentry": "guard"})
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[from_list(corp), from_list(corp, 443)])
    widen(world, corp)  # its event lost

    answer = sweeper(SENTRY_GROUP_TAG="sg-sentry", **INTERNET)

    assert world.rules(group) == {f"tcp 443 from prefix list {corp}, ingress", DEFAULT_EGRESS}  # 443 may be open
    assert answer["rules"] == {"reverted": 1}


def test_aws_managed_lists_are_trusted_unless_configured_otherwise(world: World, sentry: Invoke) -> None:
    (s3,) = world.ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["PrefixLists"]
    trusting, strict = world.group("trusting"), world.group("strict")
    events = {
        group: world.change(
            "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(s3["PrefixListId"])]
        )
        for group in (trusting, strict)
    }

    sentry(events[trusting], SENTRY_GROUP_IDS=trusting, **INTERNET)
    sentry(events[strict], SENTRY_GROUP_IDS=strict, SENTRY_TRUSTED_PREFIX_LISTS="none", **INTERNET)

    assert f"tcp 22 from prefix list {s3['PrefixListId']}, ingress" in world.rules(trusting)
    assert world.rules(strict) == {DEFAULT_EGRESS}  # S3's public ranges, judged like any others
    reasons = [document["rules"][0]["reason"] for _, document in world.messages()]
    assert "AWS-managed and trusted (SENTRY_TRUSTED_PREFIX_LISTS: com.amazonaws.*.s3)" in reasons[0]
    assert "which holds 52.216.0.0/15" in reasons[1]


def take_baseline(world: World, path: Path, group: str) -> None:
    write(snapshot(SecurityGroups(world.ec2, GroupCache()), GroupScope(), REGION, [group]), path)


def held_with_a_list(world: World, tmp_path: Path) -> tuple[str, str, Path]:
    """A group whose approved rule is tcp 443 from a list of 10.0.0.0/8: (group, list, baseline file)."""
    held = world.group("held")
    corp = world.prefix_list("10.0.0.0/8")
    world.ec2.authorize_security_group_ingress(GroupId=held, IpPermissions=[from_list(corp, 443)])
    baseline = tmp_path / "baseline.json"
    take_baseline(world, baseline, held)
    return held, corp, baseline


def test_a_baseline_approves_a_list_rule_with_the_entries_its_list_had(
    world: World, sentry: Invoke, tmp_path: Path
) -> None:
    held, corp, baseline = held_with_a_list(world, tmp_path)
    assert json.loads(baseline.read_text())["groups"][held]["prefix_lists"] == {corp: ["10.0.0.0/8"]}
    env = {"SENTRY_GROUP_IDS": held, "SENTRY_BASELINE_FILE": str(baseline)}

    # Widened: the approved rule now reaches past what was approved, so it goes, and is not put back.
    widened = widen(world, corp, "0.0.0.0/0")
    first = sentry(widened, **env)
    assert world.rules(held) == {DEFAULT_EGRESS}
    assert first["rules"] == {"reverted": 1}
    # Narrowed back: the approved rule is the approved one again, and returns.
    narrowed = world.change(
        "ModifyManagedPrefixList",
        PrefixListId=corp,
        CurrentVersion=world.list_version(corp),
        RemoveEntries=[{"Cidr": "0.0.0.0/0"}],
    )
    # The list no longer has a rule referencing it on the group, so only the sweep finds the missing rule.
    sentry(narrowed, **env)
    sweep = sweeper_for(world, tmp_path)(**env)
    assert sweep["rules"] == {"restored": 1}
    assert world.rules(held) == {f"tcp 443 from prefix list {corp}, ingress", DEFAULT_EGRESS}
    (reverted, _restored) = [document for _, document in world.messages()]
    assert "beyond the entries it held when approved" in reverted["groups"][0]["rules"][0]["reason"]


def test_the_sweep_holds_back_an_approved_list_rule_while_its_list_reaches_further(
    world: World, sweeper: Invoke, tmp_path: Path
) -> None:
    held, corp, baseline = held_with_a_list(world, tmp_path)
    world.ec2.revoke_security_group_ingress(GroupId=held, IpPermissions=[from_list(corp, 443)])
    widen(world, corp)
    env = {"SENTRY_GROUP_IDS": held, "SENTRY_BASELINE_FILE": str(baseline)}

    answer = sweeper(**env)

    assert world.rules(held) == {DEFAULT_EGRESS}  # not put back while the list holds 0.0.0.0/0
    assert answer["rules"] == {"not-restored": 1}
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry sweep: did not restore 1 rule on 1 group in eu-west-1"


def test_a_baseline_from_before_lists_were_judged_keeps_its_rule_while_the_list_stays_internal(
    world: World, sweeper: Invoke, tmp_path: Path
) -> None:
    held, corp, baseline = held_with_a_list(world, tmp_path)
    document = json.loads(baseline.read_text())
    del document["groups"][held]["prefix_lists"]  # as a baseline written before this release
    baseline.write_text(json.dumps(document))
    env = {"SENTRY_GROUP_IDS": held, "SENTRY_BASELINE_FILE": str(baseline)}

    assert sweeper(**env)["outcome"] == "clean"  # still used, and the rule stays approved
    widen(world, corp)
    assert sweeper(**env)["rules"] == {"reverted": 1}  # a list now reaching the internet is not approved
    assert world.rules(held) == {DEFAULT_EGRESS}
    ((_, document),) = world.messages()
    assert "the baseline does not record what it held" in document["groups"][0]["rules"][0]["reason"]


def sweeper_for(world: World, tmp_path: Path) -> Any:
    from tests.functional.conftest import invoke_handler, scheduled_event

    def invoke(**env: str) -> Any:
        settings = {"SENTRY_TOPIC_ARN": world.topic_arn} | env
        return invoke_handler(scheduled_event(), tmp_path, function="sweep", **settings)

    return invoke


def test_a_rule_from_a_list_costs_two_reads_before_the_revoke_and_a_cidr_rule_none(
    world: World, sentry: Invoke
) -> None:
    from tests.conftest import DEPLOYED_CALLS

    group = world.group()
    anyone = world.prefix_list("0.0.0.0/0")
    listed = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(anyone)])
    DEPLOYED_CALLS.clear()

    sentry(listed, SENTRY_GROUP_IDS=group, **INTERNET)

    operations = [operation for _, operation, _ in DEPLOYED_CALLS]
    assert operations[:3] == ["DescribeManagedPrefixLists", "GetManagedPrefixListEntries", "RevokeSecurityGroupIngress"]
    # The same list again, in the same warm container: its version's entries are cached, one read remains.
    again = world.change("AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[from_list(anyone, 3389)])
    DEPLOYED_CALLS.clear()
    sentry(again, SENTRY_GROUP_IDS=group, **INTERNET)
    assert [operation for _, operation, _ in DEPLOYED_CALLS][:2] == [
        "DescribeManagedPrefixLists",
        "RevokeSecurityGroupIngress",
    ]
    assert world.rules(group) == {DEFAULT_EGRESS}
