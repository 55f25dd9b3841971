"""localaws/moto_fidelity.py: moto, under the suite, behaves as EC2 in the four places the sentry's checks rely on.

The suite runs with the patches on (tests/conftest.py); each test here shows one of them in effect, with
calls a person would make, so a moto upgrade that changes the behaviour is caught here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def vpc_with_groups(ec2: Any, *names: str) -> tuple[str, str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    groups = [ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in names]
    return vpc, subnet, groups


def groups_of(ec2: Any, interface_id: str) -> set[str]:
    (found,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[interface_id])["NetworkInterfaces"]
    return {group["GroupId"] for group in found["Groups"]}


def test_interfaces_hold_their_own_groups(ec2: Any) -> None:
    _, subnet, (a, b) = vpc_with_groups(ec2, "a", "b")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[a])
    instance_id = instance["Instances"][0]["InstanceId"]
    primary = instance["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.modify_instance_attribute(InstanceId=instance_id, Groups=[a, b])
    assert groups_of(ec2, primary) == {a, b}
    ec2.modify_network_interface_attribute(NetworkInterfaceId=primary, Groups=[a])
    assert groups_of(ec2, primary) == {a}  # moto alone would still report b, from the instance
    second = ec2.create_network_interface(SubnetId=subnet, Groups=[b])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=second, InstanceId=instance_id, DeviceIndex=1)
    assert groups_of(ec2, second) == {b}  # attaching does not hand it the instance's groups
    with pytest.raises(ClientError, match="multiple interfaces"):
        ec2.modify_instance_attribute(InstanceId=instance_id, Groups=[a])


def test_delete_tags_with_no_tags_deletes_every_tag(ec2: Any) -> None:
    _, _, (group,) = vpc_with_groups(ec2, "a")
    ec2.create_tags(Resources=[group], Tags=[{"Key": "sg-sentry", "Value": "guard"}, {"Key": "team", "Value": "x"}])
    ec2.delete_tags(Resources=[group], Tags=[{"Key": "team"}])
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["Tags"] == [
        {"Key": "sg-sentry", "Value": "guard"}
    ]
    ec2.delete_tags(Resources=[group])
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0].get("Tags", []) == []


def test_an_ipv6_egress_rule_is_revoked_by_its_definition(ec2: Any) -> None:
    _, _, (group,) = vpc_with_groups(ec2, "a")  # a VPC without an IPv6 block
    smtp = {"IpProtocol": "tcp", "FromPort": 25, "ToPort": 25, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[smtp])
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[smtp])
    egress = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert all(not permission["Ipv6Ranges"] for permission in egress)


def test_a_revoke_that_fails_changes_nothing(ec2: Any) -> None:
    _, _, (group,) = vpc_with_groups(ec2, "a")
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    missing = {"IpProtocol": "tcp", "FromPort": 23, "ToPort": 23, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])
    with pytest.raises(ClientError, match=r"InvalidPermission\.NotFound"):
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ssh, missing])
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"][0]["FromPort"] == 22
