"""Hypothesis strategies for CloudTrail records: well-formed, odd, hostile and broken.

`records` builds records field by field from values real records carry and
values they never should (wrong types, nulls, huge lists, control
characters, malformed CIDRs and ports, unknown names). `mutated` takes a
well-formed record and breaks it at random places. Group IDs come from the
caller, so records can aim at groups that exist in moto.
"""

from __future__ import annotations

import copy
import math
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("SENTRY_FUZZ_EXAMPLES", "1000"))


def at_least(share: float, of: int) -> int:
    """A non-vacuity threshold: `share` of `of` examples, rounded up, and never less than 1."""
    return max(1, math.ceil(share * of))


# Counted per property, for the figures in the README.
GENERATED: Counter[str] = Counter()

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # Repeatable in CI; SENTRY_FUZZ_RANDOM=1 explores new inputs on every run.
    derandomize=os.environ.get("SENTRY_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["\r\nBcc: x@example.com", "\x00\x1b[31m\u202e", "\u2028\u2029", '"},{"x":1}', "é" * 5000]),
)
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=True), HOSTILE)
JSON = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=15,
)

PROTOCOLS = st.one_of(
    st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "-1", "6", "17", "1", "58", "all", "50", "TCP", "-2", "256"]),
    st.integers(-5, 300),
    st.text(max_size=6),
)
PORTS = st.one_of(
    st.none(),
    st.sampled_from([-1, 0, 22, 80, 443, 3389, 65535, 65536, "22", "443", "", "x"]),
    st.integers(-(2**31), 2**31),
    JSON,
)
VALID_V4 = st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=4), st.integers(0, 32))
VALID_V6 = st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=6), st.integers(0, 128))
CIDRS_V4 = st.one_of(
    VALID_V4,
    st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "999.1.1.1/8", "1.2.3.4/33", "::/0", ""]),
    st.text(max_size=20),
)
CIDRS_V6 = st.one_of(
    VALID_V6, st.sampled_from(["::/0", "fd00::/8", "0.0.0.0/0", "::/129", "gg::/0"]), st.text(max_size=20)
)
# The calls that open a group without a rule change of their own (chalicelib/cloudtrail/indirect.py).
INDIRECT_NAMES = [
    "CreateTags",
    "DeleteTags",
    "ModifyManagedPrefixList",
    "RestoreManagedPrefixListVersion",
    "ModifyNetworkInterfaceAttribute",
    "ModifyInstanceAttribute",
    "RunInstances",
    "CreateNetworkInterface",
    "AttachNetworkInterface",
]
EVENT_NAMES = st.one_of(
    st.sampled_from(
        [
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "ModifySecurityGroupRules",
            "RevokeSecurityGroupIngress",
            "CreateSecurityGroup",
            *INDIRECT_NAMES,
        ]
    ),
    st.text(max_size=30),
)
RULE_CHANGES = st.sampled_from(
    ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "ModifySecurityGroupRules"]
)
# CloudTrail's mark on a field it cut short, and things that look like it.
OMITTED = st.sampled_from([{"omitted": True, "originalSize": 262144}, {"omitted": "true"}, {"omitted": False}])


def listed(element: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[Any]:
    """A CloudTrail list: {"items": [...]}, {} for empty, or something that is not a list at all."""
    return st.one_of(
        st.just({}),
        st.lists(element, max_size=max_size).map(lambda items: {"items": items}),
        st.lists(element, min_size=50, max_size=200).map(lambda items: {"items": items}),  # huge
        JSON,
    )


def permissions(group_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"ipProtocol": PROTOCOLS},
        optional={
            "fromPort": PORTS,
            "toPort": PORTS,
            "ipRanges": listed(st.fixed_dictionaries({"cidrIp": CIDRS_V4}, optional={"description": HOSTILE})),
            "ipv6Ranges": listed(st.fixed_dictionaries({"cidrIpv6": CIDRS_V6}, optional={"description": HOSTILE})),
            "groups": listed(
                st.fixed_dictionaries({}, optional={"groupId": group_ids, "userId": HOSTILE, "groupName": HOSTILE})
            ),
            "prefixListIds": listed(st.fixed_dictionaries({"prefixListId": st.sampled_from(["pl-0123abcd", "x"])})),
        },
    )


def rule_set_items(group_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    source = st.one_of(
        st.fixed_dictionaries({"cidrIpv4": CIDRS_V4}),
        st.fixed_dictionaries({"cidrIpv6": CIDRS_V6}),
        st.fixed_dictionaries({"prefixListId": st.sampled_from(["pl-0123abcd", "sg-1"])}),
        st.fixed_dictionaries({"referencedGroupInfo": st.fixed_dictionaries({"groupId": group_ids})}),
        st.just({}),
    )
    base = st.fixed_dictionaries(
        {"ipProtocol": PROTOCOLS, "fromPort": PORTS, "toPort": PORTS},
        optional={
            "groupId": group_ids,
            "securityGroupRuleId": st.one_of(st.sampled_from(["sgr-0123456789abcdef0"]), HOSTILE),
            "isEgress": st.one_of(st.booleans(), JSON),
            "description": HOSTILE,
        },
    )
    return st.builds(lambda a, b: a | b, base, source)


def modify_requests(group_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    spec = st.fixed_dictionaries(
        {"IpProtocol": PROTOCOLS, "FromPort": PORTS, "ToPort": PORTS},
        optional={"CidrIpv4": CIDRS_V4, "CidrIpv6": CIDRS_V6, "ReferencedGroupId": group_ids, "Description": HOSTILE},
    )
    entry = st.fixed_dictionaries(
        {"SecurityGroupRuleId": st.one_of(st.just("sgr-0123456789abcdef0"), HOSTILE), "SecurityGroupRule": spec},
        optional={"tag": st.integers(1, 9)},
    )
    return st.fixed_dictionaries(
        {
            "ModifySecurityGroupRulesRequest": st.fixed_dictionaries(
                {"GroupId": group_ids, "SecurityGroupRule": st.one_of(entry, st.lists(entry, max_size=3), JSON)}
            )
        }
    )


def tag_requests(group_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    resource = st.one_of(group_ids, st.sampled_from(["i-0123456789abcdef0", "vpc-01234567"]), HOSTILE, JSON)
    tag = st.fixed_dictionaries(
        {"key": st.one_of(st.sampled_from(["sg-sentry", "team"]), HOSTILE, JSON)},
        optional={"value": st.one_of(st.sampled_from(["guard", "off", ""]), HOSTILE, JSON)},
    )
    return st.fixed_dictionaries(
        {"resourcesSet": listed(st.fixed_dictionaries({"resourceId": resource}))},
        optional={"tagSet": listed(tag)},
    )


def prefix_list_requests() -> st.SearchStrategy[Any]:
    list_id = st.one_of(st.sampled_from(["pl-0123456789abcdef0", "pl-zz", ""]), HOSTILE, JSON)
    return st.one_of(
        st.fixed_dictionaries({"ModifyManagedPrefixListRequest": st.fixed_dictionaries({"PrefixListId": list_id})}),
        st.fixed_dictionaries({"prefixListId": list_id}),
        JSON,
    )


def interface_requests(group_ids: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    ids = st.one_of(st.sampled_from(["eni-0123456789abcdef0", "i-0123456789abcdef0", "eni-"]), HOSTILE, JSON)
    return st.fixed_dictionaries(
        {},
        optional={
            "networkInterfaceId": ids,
            "instanceId": ids,
            "groupSet": listed(st.fixed_dictionaries({"groupId": st.one_of(group_ids, JSON)})),
            "instancesSet": listed(st.fixed_dictionaries({"instanceId": ids})),
        },
    )


def identities() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["IAMUser", "AssumedRole", "Root", "AWSService"]), "arn": HOSTILE},
            optional={
                "sessionContext": st.fixed_dictionaries(
                    {"sessionIssuer": st.one_of(st.fixed_dictionaries({"arn": HOSTILE}), JSON)}
                ),
                "invokedBy": HOSTILE,
                "userName": HOSTILE,
            },
        ),
        JSON,
    )


def records(group_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Records built field by field, valid and invalid alike."""
    params = st.one_of(
        st.fixed_dictionaries({"groupId": group_ids, "ipPermissions": listed(permissions(group_ids))}),
        st.fixed_dictionaries(  # the flat form
            {"groupId": group_ids, "ipPermissions": st.just({}), "ipProtocol": PROTOCOLS, "cidrIp": CIDRS_V4},
            optional={"fromPort": PORTS, "toPort": PORTS},
        ),
        st.fixed_dictionaries({"groupName": HOSTILE, "ipPermissions": listed(permissions(group_ids))}),
        modify_requests(group_ids),
        tag_requests(group_ids),
        prefix_list_requests(),
        interface_requests(group_ids),
        OMITTED,
        JSON,
    )
    response = st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"_return": st.booleans()}, optional={"securityGroupRuleSet": listed(rule_set_items(group_ids))}
        ),
        interface_requests(group_ids),
        OMITTED,
        JSON,
    )
    # Most records carry a header the sentry handles, so the fuzzing reaches past it into the body.
    header = {
        "eventSource": st.just("ec2.amazonaws.com"),
        # Two in three a rule change, one in three a call around one.
        "eventName": st.one_of(RULE_CHANGES, RULE_CHANGES, st.sampled_from(INDIRECT_NAMES)),
        "awsRegion": st.just("eu-west-1"),
    }
    odd_header = {
        "eventSource": st.one_of(st.just("ec2.amazonaws.com"), HOSTILE),
        "eventName": EVENT_NAMES,
        "awsRegion": st.one_of(st.just("eu-west-1"), JSON),
    }
    optional = {
        "eventID": st.one_of(st.uuids().map(str), JSON),
        "eventTime": JSON,
        "userIdentity": identities(),
        "sourceIPAddress": HOSTILE,
        "userAgent": HOSTILE,
        "errorCode": st.one_of(st.none(), st.just("Client.UnauthorizedOperation"), JSON),
        # Mostly the account the call was made in (the sentry acts there, so a hostile one stops it at the
        # header: it is not understood), sometimes another account, sometimes anything.
        "recipientAccountId": st.one_of(
            st.just("123456789012"), st.just("123456789012"), st.just("210987654321"), JSON
        ),
        "sessionCredentialFromConsole": JSON,
    }
    body = {"requestParameters": params, "responseElements": response}
    record = st.fixed_dictionaries(header | body, optional=optional)
    odd = st.fixed_dictionaries(odd_header | body, optional=optional)
    return st.one_of(record, record.map(wrap), odd, JSON)


def wrap(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge envelope Chalice requires around a record."""
    return {
        "version": "0",
        "id": "fuzz",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-11-23T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": record,
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, record: dict[str, Any], times: int = 3) -> dict[str, Any]:
    """`record` broken at up to `times` random places: replaced, deleted, or wrapped in a list."""
    broken = copy.deepcopy(record)
    for _ in range(draw(st.integers(1, times))):
        paths = [path for path in _paths(broken) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = broken
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["replace", "delete", "wrap", "stringify"]))
        if how == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        elif how == "stringify":
            parent[path[-1]] = str(parent[path[-1]])
        else:
            parent[path[-1]] = draw(JSON)
    return broken
