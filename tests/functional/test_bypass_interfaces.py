"""Class 5 of issue 11: the side door, another group on an interface that carries a guarded one.

Real calls against moto (with interfaces holding their own groups, as in a
VPC: localaws/moto_fidelity.py): every call that gives an interface groups,
then the interface's groups and both groups' rules read afterwards. What
goes is the attachment; the open group's rules are not the sentry's.
"""

from __future__ import annotations

from typing import Any

import pytest

from localaws import cloudtrail
from tests.conftest import DEPLOYED_CALLS
from tests.functional.conftest import REGION, Invoke, World, ssh_from

SSH_WORLD = "tcp 22 from 0.0.0.0/0, ingress"


def groups(world: World) -> tuple[str, str]:
    """A guarded group, and an unguarded one with SSH open to the world."""
    guarded = world.group("guarded")
    open_ssh = world.group("open-ssh")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    return guarded, open_ssh


def run(world: World, guarded: str, open_ssh: str) -> tuple[dict[str, Any], str]:
    event = world.change(
        "RunInstances",
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=world.subnet(),
        SecurityGroupIds=[guarded, open_ssh],
    )
    (instance,) = event["detail"]["responseElements"]["instancesSet"]["items"]
    return event, instance["networkInterfaceSet"]["items"][0]["networkInterfaceId"]


def side_door(world: World, how: str, guarded: str, open_ssh: str) -> tuple[dict[str, Any], str]:
    """Open a guarded workload through `open_ssh`, the way `how` names; return its event and the interface."""
    if how == "RunInstances":
        return run(world, guarded, open_ssh)
    if how == "CreateNetworkInterface":
        event = world.change("CreateNetworkInterface", SubnetId=world.subnet(), Groups=[guarded, open_ssh])
        return event, event["detail"]["responseElements"]["networkInterface"]["networkInterfaceId"]
    instance, interface = world.instance(guarded)
    if how == "ModifyNetworkInterfaceAttribute":
        event = world.change(how, NetworkInterfaceId=interface, Groups=[guarded, open_ssh])
    elif how == "ModifyInstanceAttribute":
        event = world.change(how, InstanceId=instance, Groups=[guarded, open_ssh])
    else:  # a second interface, carrying only the open group, attached to the guarded instance
        second = world.ec2.create_network_interface(SubnetId=world.subnet(), Groups=[open_ssh])
        interface = second["NetworkInterface"]["NetworkInterfaceId"]
        event = world.change(how, NetworkInterfaceId=interface, InstanceId=instance, DeviceIndex=1)
    return event, interface


WAYS = [
    "ModifyNetworkInterfaceAttribute",
    "ModifyInstanceAttribute",
    "RunInstances",
    "CreateNetworkInterface",
    "AttachNetworkInterface",
]


@pytest.mark.parametrize("how", WAYS)
def test_an_open_group_beside_a_guarded_one_is_taken_off_the_interface(world: World, sentry: Invoke, how: str) -> None:
    guarded, open_ssh = groups(world)
    event, interface = side_door(world, how, guarded, open_ssh)
    assert open_ssh in world.interface_groups(interface)

    answer = sentry(event, SENTRY_GROUP_IDS=guarded)

    # Taken off; an interface that had only the open group gets the workload's guarded group instead.
    assert world.interface_groups(interface) == {guarded}
    assert SSH_WORLD in world.rules(open_ssh)  # the other group's rules are left alone: it may serve others
    assert answer["interfaces_fixed"] == 1 and answer["outcome"] == "reverted"
    ((subject, document),) = world.messages()
    assert subject == f"sg-sentry: reverted 1 interface after {how} in eu-west-1"
    (fixed,) = document["interfaces"]
    assert (fixed["interface_id"], fixed["removed"], fixed["guarded"]) == (interface, [open_ssh], [guarded])
    assert f"{open_ssh} opens it: {SSH_WORLD} (opens tcp 22 to the internet)" in fixed["reason"]


def test_a_group_beside_that_opens_only_allowed_ports_stays(world: World, sentry: Invoke) -> None:
    guarded = world.group("guarded")
    web = world.group("web")
    world.ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[ssh_from(port=443)])
    instance, interface = world.instance(guarded)
    event = world.change("ModifyInstanceAttribute", InstanceId=instance, Groups=[guarded, web])

    assert sentry(event, SENTRY_GROUP_IDS=guarded)["outcome"] == "clean"
    assert world.interface_groups(interface) == {guarded, web}
    assert world.messages() == []


def test_a_workload_without_a_guarded_group_is_not_the_sentrys(world: World, sentry: Invoke) -> None:
    guarded, open_ssh = groups(world)
    other = world.group("other")
    event, interface = run(world, other, open_ssh)

    assert sentry(event, SENTRY_GROUP_IDS=guarded)["outcome"] == "clean"
    assert world.interface_groups(interface) == {other, open_ssh}


def test_a_launch_is_free_when_every_group_is_guarded(world: World, sentry: Invoke) -> None:
    guarded, open_ssh = groups(world)
    event, _ = run(world, guarded, open_ssh)
    DEPLOYED_CALLS.clear()

    sentry(event, SENTRY_GROUP_IDS="*")

    # Every group is guarded on its own: no side door to look for, and no call made to look.
    assert [operation for _, operation, _ in DEPLOYED_CALLS] == []


def test_the_sweep_finds_a_side_door_no_event_reported(world: World, sweeper: Invoke) -> None:
    guarded = world.group("guarded", tags={"sg-sentry": "guard"})
    open_ssh = world.group("open-ssh")
    world.ec2.authorize_security_group_ingress(GroupId=open_ssh, IpPermissions=[ssh_from()])
    _, interface = world.instance(guarded, open_ssh)
    _, elsewhere = world.instance(open_ssh)  # the open group also serves an unguarded workload

    answer = sweeper(SENTRY_GROUP_TAG="sg-sentry")

    assert world.interface_groups(interface) == {guarded}
    assert world.interface_groups(elsewhere) == {open_ssh}
    assert SSH_WORLD in world.rules(open_ssh)
    assert answer["interfaces_fixed"] == 1
    ((subject, _),) = world.messages()
    assert subject == "sg-sentry sweep: reverted 1 interface in eu-west-1"


def test_an_instance_launched_by_a_service_is_judged_when_it_runs(world: World, sentry: Invoke) -> None:
    # A spot request fulfilled later, a fleet, Auto Scaling: no API call of the person's says which instance
    # started, but EventBridge says it runs.
    guarded, open_ssh = groups(world)
    instance, interface = world.instance(guarded, open_ssh)

    answer = sentry(cloudtrail.instance_running(instance, REGION), SENTRY_GROUP_IDS=guarded)

    assert world.interface_groups(interface) == {guarded}
    assert answer["interfaces_fixed"] == 1
    ((subject, document),) = world.messages()
    assert subject == "sg-sentry: reverted 1 interface after EC2 Instance State-change Notification in eu-west-1"
    assert f"started instance {instance}" in document["text"]


def test_the_event_rule_delivers_every_call_the_sentry_handles_and_nothing_it_does_not(world: World) -> None:
    from moto.events.models import EventPattern

    from app import SECURITY_GROUP_CHANGES
    from chalicelib.domain.change import EVENT_NAMES

    rule = EventPattern(None, SECURITY_GROUP_CHANGES)  # moto's own matcher: what its EventBridge would deliver

    def call(name: str) -> dict[str, object]:
        return cloudtrail.eventbridge({"eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": REGION})

    assert all(rule.matches_event(call(name)) for name in EVENT_NAMES)
    running = cloudtrail.instance_running("i-0123456789abcdef0", REGION)
    assert rule.matches_event(running)
    stopped = dict(running, detail={"instance-id": "i-0123456789abcdef0", "state": "stopped"})
    assert not rule.matches_event(stopped) and not rule.matches_event(call("DescribeInstances"))
