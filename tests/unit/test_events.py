"""Parsing: one test per shape CloudTrail sends, on records written for this project."""

from __future__ import annotations

import pytest

from chalicelib.cloudtrail.records import EventNotUnderstood, EventOutOfScope, envelope, parse_event, peek_event_id
from chalicelib.domain.rules import Direction
from tests.conftest import load_event

GROUP = "sg-0a1b2c3d4e5f60718"


def texts(rules: object) -> list[str]:
    return [str(rule) for rule in rules]  # type: ignore[attr-defined]


def test_nested_permissions_with_rule_set_and_eventbridge_envelope() -> None:
    change = parse_event(load_event("authorize_ingress_nested_ruleset.json"))
    assert (change.event_id, change.event_name, change.region) == (
        "evt-nested-ruleset",
        "AuthorizeSecurityGroupIngress",
        "eu-central-1",
    )
    assert (change.group_id, change.account, change.failed) == (GROUP, "111122223333", False)
    assert texts(change.added) == [
        "tcp 22 from 0.0.0.0/0, ingress",
        "tcp 22 from ::/0, ingress",  # IPv4 and IPv6 in one permission: two rules
        "tcp 5432 from 10.1.0.0/16, ingress",
    ]
    assert [rule.rule_id for rule in change.added] == [
        "sgr-00000000000000001",
        "sgr-00000000000000002",
        "sgr-00000000000000003",
    ]
    assert change.added[0].description == "temp ssh"


def test_a_bare_cloudtrail_record_reads_like_the_envelope() -> None:
    wrapped = load_event("authorize_ingress_nested_ruleset.json")
    bare, enveloped = parse_event(wrapped["detail"]), parse_event(wrapped)
    assert bare == enveloped
    # Rule equality ignores IDs and descriptions; they must survive too.
    assert [(r.rule_id, r.description) for r in bare.added] == [(r.rule_id, r.description) for r in enveloped.added]


def test_flat_form_with_rule_set() -> None:
    change = parse_event(load_event("authorize_ingress_flat_ruleset.json"))
    assert texts(change.added) == ["tcp 3389 from 198.51.100.77/0, ingress"]
    assert change.added[0].rule_id == "sgr-00000000000000004"


def test_flat_form_without_rule_set() -> None:
    change = parse_event(load_event("authorize_ingress_flat_legacy.json"))
    assert texts(change.added) == ["tcp 22 from 0.0.0.0/0, ingress"]
    assert change.added[0].rule_id is None


def test_every_source_kind_several_permissions_and_descriptions() -> None:
    change = parse_event(load_event("authorize_ingress_every_source_legacy.json"))
    assert texts(change.added) == [
        "tcp 8080-8090 from 192.0.2.0/24, ingress",
        "tcp 8080-8090 from 172.20.0.0/16, ingress",
        "udp 53 from 2001:db8::/32, ingress",
        "tcp 443 from prefix list pl-0123456789abcdef0, ingress",
        "tcp 9000 from security group sg-0fedcba9876543210, ingress",  # several groups in one permission
        "tcp 9000 from security group sg-01234567 (account 444455556666), ingress",
    ]
    assert [rule.description for rule in change.added] == ["partner", None, "dns", "corp", "app tier", None]
    actor = change.actor
    assert (actor.identity_type, actor.console) == ("AssumedRole", True)
    assert actor.session_issuer_arn == "arn:aws:iam::111122223333:role/Admin"
    assert actor.principal_arns == (
        "arn:aws:sts::111122223333:assumed-role/Admin/erin@example.com",
        "arn:aws:iam::111122223333:role/Admin",
    )


def test_egress_all_traffic_without_ports() -> None:
    change = parse_event(load_event("authorize_egress_all_traffic_legacy.json"))
    assert texts(change.added) == ["all traffic to 0.0.0.0/0, egress"]
    assert change.added[0].direction is Direction.EGRESS
    assert change.added[0].description == "allow all out"
    assert "Terraform" in (change.actor.user_agent or "")


def test_icmp_type_and_code_and_numeric_protocols() -> None:
    change = parse_event(load_event("authorize_ingress_icmp.json"))
    assert texts(change.added) == [
        "icmp type 8 all codes from 0.0.0.0/0, ingress",
        "icmpv6 all types from ::/0, ingress",
        "tcp 8443 from 203.0.113.0/24, ingress",  # protocol "6", ports as text
    ]


def test_group_named_without_id_takes_the_id_from_the_rule_set() -> None:
    change = parse_event(load_event("authorize_ingress_group_name_ruleset.json"))
    assert (change.group_id, change.group_name) == ("sg-0b1c2d3e4f5a60789", "legacy-web")
    assert change.actor.invoked_by == "cloudformation.amazonaws.com"
    assert len(change.added) == 2


def test_group_named_without_id_and_without_rule_set() -> None:
    change = parse_event(load_event("authorize_ingress_group_name_legacy.json"))
    assert (change.group_id, change.group_name) == (None, "legacy-web")
    assert texts(change.added) == ["tcp 23 from 0.0.0.0/0, ingress"]


def test_a_failed_call_is_read_as_failed_with_no_rules() -> None:
    change = parse_event(load_event("authorize_ingress_failed.json"))
    assert change.failed and change.error_code == "Client.InvalidPermission.Duplicate"
    assert change.added == () and change.group_id == GROUP


def test_a_failed_call_is_failed_even_when_its_request_is_garbage() -> None:
    event = load_event("authorize_ingress_failed.json")
    event["detail"]["requestParameters"]["ipPermissions"] = {"items": [{"ipProtocol": "bogus"}]}
    assert parse_event(event).failed


def test_modify_one_rule_logged_as_an_object() -> None:
    change = parse_event(load_event("modify_rules_single.json"))
    assert change.group_id == GROUP and change.added == ()
    (update,) = change.updates
    assert update.rule_id == "sgr-0000000000000000a"
    assert str(update.as_rule(Direction.INGRESS)) == "tcp 22 from 0.0.0.0/0, ingress"
    assert update.as_rule(Direction.INGRESS).rule_id == "sgr-0000000000000000a"
    assert update.description == "widened"


def test_modify_several_rules_logged_as_a_list() -> None:
    change = parse_event(load_event("modify_rules_multiple.json"))
    assert [str(update.as_rule(Direction.EGRESS)) for update in change.updates] == [
        "all traffic to ::/0, egress",
        "tcp 6379 to security group sg-0fedcba9876543210, egress",
        "udp 500 to prefix list pl-0123456789abcdef0, egress",
    ]


def test_group_reference_in_the_rule_set() -> None:
    (rule,) = parse_event(load_event("authorize_ingress_group_reference_ruleset.json")).added
    assert str(rule) == "tcp 1521 from security group sg-0aaaabbbbccccdddd (account 444455556666), ingress"
    assert rule.description == "reporting"


def test_root_at_the_console() -> None:
    actor = parse_event(load_event("authorize_ingress_root_console.json")).actor
    assert (actor.identity_type, actor.arn, actor.console) == ("Root", "arn:aws:iam::111122223333:root", True)
    assert actor.session_issuer_arn is None


def test_records_missing_optional_fields_still_parse() -> None:
    record = load_event("authorize_ingress_flat_ruleset.json")
    for optional in ("userIdentity", "userAgent", "sourceIPAddress", "eventTime", "recipientAccountId"):
        del record[optional]
    change = parse_event(record)
    assert change.actor.identity_type == "Unknown" and change.actor.name == "Unknown"
    assert change.account is None and len(change.added) == 1


def test_a_revoke_by_permission_names_its_group_and_what_it_removed() -> None:
    change = parse_event(load_event("revoke_ingress.json"))
    assert change.is_revoke and change.group_id == "sg-0a1b2c3d4e5f60718"
    assert [str(rule) for rule in change.removed] == ["tcp 22 from 0.0.0.0/0, ingress"]
    assert change.added == () and change.updates == ()


def test_a_revoke_by_rule_id_reads_the_removed_rules_from_the_response() -> None:
    change = parse_event(load_event("revoke_egress_by_rule_id.json"))
    (rule,) = change.removed
    assert (str(rule), rule.rule_id, rule.description) == (
        "tcp 443 to 10.20.0.0/16, egress",
        "sgr-0fedcba9876543210",
        "to the database",
    )


def test_a_revoke_by_rule_id_without_details_still_names_the_group() -> None:
    event = load_event("revoke_egress_by_rule_id.json")
    del event["detail"]["responseElements"]["revokedSecurityGroupRuleSet"]
    change = parse_event(event)
    assert change.group_id == "sg-0a1b2c3d4e5f60718" and change.removed == ()


def test_a_revoke_naming_no_group_is_not_understood() -> None:
    event = load_event("revoke_ingress.json")
    del event["detail"]["requestParameters"]["groupId"]
    with pytest.raises(EventNotUnderstood, match="names no security group"):
        parse_event(event)


def test_other_ec2_calls_are_out_of_scope() -> None:
    event = load_event("revoke_ingress.json")
    event["detail"]["eventName"] = "DeleteSecurityGroup"
    with pytest.raises(EventOutOfScope, match="DeleteSecurityGroup"):
        parse_event(event)


def test_other_sources_and_detail_types_are_out_of_scope() -> None:
    event = load_event("authorize_ingress_nested_ruleset.json")
    event["detail"]["eventSource"] = "s3.amazonaws.com"
    with pytest.raises(EventOutOfScope):
        parse_event(event)
    event = load_event("authorize_ingress_nested_ruleset.json")
    event["detail-type"] = "Scheduled Event"
    with pytest.raises(EventOutOfScope):
        parse_event(event)


def _break(event: dict, path: list[str], value: object) -> dict:  # type: ignore[type-arg]
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["detail", "requestParameters", "ipPermissions"],
            {"items": [{"ipProtocol": "tcp", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
            "fromPort and toPort",
        ),
        (["detail", "requestParameters", "ipPermissions"], {"items": [{"ipProtocol": "tcp"}]}, "names no rule"),
        (["detail", "responseElements", "securityGroupRuleSet", "items"], "nope", "list of items"),
        (["detail", "requestParameters"], ["not", "an", "object"], "JSON object"),
        (["detail", "awsRegion"], None, "no awsRegion"),
        (["detail", "requestParameters", "groupId"], None, "names no security group"),
    ],
    ids=["no-ports", "no-sources", "items-not-list", "params-list", "no-region", "no-group"],
)
def test_unreadable_records_raise_event_not_understood(path: list, value: object, message: str | None) -> None:  # type: ignore[type-arg]
    event = load_event("authorize_ingress_nested_ruleset.json")
    if path[-1] in ("ipPermissions", "groupId"):
        del event["detail"]["responseElements"]["securityGroupRuleSet"]
    if path[-1] == "awsRegion":
        del event["region"]
    with pytest.raises(EventNotUnderstood, match=message):
        parse_event(_break(event, path, value))


def test_an_unreadable_part_is_set_aside_and_the_rest_still_read() -> None:
    event = load_event("authorize_ingress_nested_ruleset.json")
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][1]["cidrIpv6"] = "999::/0::"
    change = parse_event(event)
    assert texts(change.added) == ["tcp 22 from 0.0.0.0/0, ingress", "tcp 5432 from 10.1.0.0/16, ingress"]
    # The item names its rule ID, so lockdown mode can still revoke it by that ID.
    (unreadable,) = change.unreadable_rules
    assert (
        unreadable.rule_id
        == event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][1]["securityGroupRuleId"]
    )
    assert "999::/0::" in unreadable.problem and unreadable.direction is Direction.INGRESS
    assert change.unreadable == ()
    # Without an ID, it is a part nobody can act on, and the report says so.
    del event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][1]["securityGroupRuleId"]
    (problem,) = parse_event(event).unreadable
    assert problem.startswith("rule set item 2: ") and "999::/0::" in problem


def test_one_permission_naming_a_group_without_its_id_does_not_hide_the_others() -> None:
    event = load_event("authorize_ingress_every_source_legacy.json")
    permissions = event["detail"]["requestParameters"]["ipPermissions"]["items"]
    permissions[3]["groups"] = {"items": [{"groupName": "app-tier"}]}
    change = parse_event(event)
    assert len(change.added) == 4
    assert change.unreadable == (
        'permission 4: missing field \'GroupId\': {"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, '
        '"UserIdGroupPairs": [{"GroupName": "app-tier"}], "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []}',
    )


@pytest.mark.parametrize(
    ("is_egress", "event_name", "readable"),
    [
        (None, "AuthorizeSecurityGroupEgress", True),  # missing: the call's direction
        ("true", "AuthorizeSecurityGroupEgress", True),
        (True, "AuthorizeSecurityGroupIngress", False),  # contradiction: never revoke through the wrong API
        ("yes", "AuthorizeSecurityGroupEgress", False),
    ],
)
def test_direction_comes_from_the_call(is_egress: object, event_name: str, readable: bool) -> None:
    record = load_event("authorize_ingress_flat_ruleset.json")
    record["eventName"] = event_name
    item = record["responseElements"]["securityGroupRuleSet"]["items"][0]
    if is_egress is None:
        del item["isEgress"]
    else:
        item["isEgress"] = is_egress
    if readable:
        (rule,) = parse_event(record).added
        assert rule.direction is Direction.EGRESS
    else:
        with pytest.raises(EventNotUnderstood, match="contradicts the call's direction"):
            parse_event(record)


def test_all_traffic_logged_with_ports_0_to_65535() -> None:
    record = load_event("authorize_ingress_flat_legacy.json")
    record["requestParameters"].update(ipProtocol="-1", fromPort=0, toPort=65535)
    (rule,) = parse_event(record).added
    assert str(rule) == "all traffic from 0.0.0.0/0, ingress"


def test_a_failed_modification_is_failed() -> None:
    event = load_event("modify_rules_single.json")
    event["detail"].update(errorCode="Client.UnauthorizedOperation", errorMessage="You are not authorized")
    event["detail"]["responseElements"] = None
    change = parse_event(event)
    assert change.failed and change.updates == () and change.group_id == GROUP


def test_the_event_id_of_an_unreadable_event_can_still_be_logged() -> None:
    assert peek_event_id(load_event("authorize_ingress_nested_ruleset.json")) == "evt-nested-ruleset"
    assert peek_event_id({"id": "eb-1", "detail": "garbage"}) == "eb-1"
    assert peek_event_id([1]) is None


@pytest.mark.parametrize("raw", [None, [], "text", 42, {"detail": "x"}])
def test_things_that_are_not_events_are_not_understood(raw: object) -> None:
    with pytest.raises((EventNotUnderstood, EventOutOfScope)):
        parse_event(raw)


@pytest.mark.parametrize("region", [False, 0, "0", "eu-west", "EU-WEST-1", "eu-west-1; rm -rf /"])
def test_found_by_fuzzing_a_region_that_is_not_one_is_not_understood(region: object) -> None:
    # It used to reach boto3 as a region name and fail there (InvalidRegionError, or moto's KeyError).
    record = load_event("authorize_ingress_flat_ruleset.json")
    record["awsRegion"] = region
    with pytest.raises(EventNotUnderstood, match=r"awsRegion|no awsRegion"):
        parse_event(record)


@pytest.mark.parametrize("rule_id", ["[", "sgr-*", "sgr-0a1b2c3d?", "sg-0a1b2c3d4e5f60718"])
def test_a_modified_rule_id_that_is_not_one_is_not_understood(rule_id: str) -> None:
    # The ID is looked up in a filter, where * and ? are wildcards (and moto compiles it as a pattern).
    record = load_event("modify_rules_single.json")
    request = record["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]
    request["SecurityGroupRule"]["SecurityGroupRuleId"] = rule_id
    with pytest.raises(EventNotUnderstood, match="is not a security group rule ID"):
        parse_event(record)


@pytest.mark.parametrize(
    "group_id", ["sg-1\x1b[31m\nFORGED LINE: all good", "sg-ZZZZZZZZ", "web-prod", "sg-0a1b2c3d\n"]
)
def test_a_group_id_that_is_not_one_is_not_understood(group_id: str) -> None:
    # With SENTRY_GROUP_IDS=* any string would count as guarded, and would reach the email.
    record = load_event("authorize_ingress_flat_legacy.json")
    record["requestParameters"]["groupId"] = group_id
    with pytest.raises(EventNotUnderstood, match="is not a security group ID"):
        parse_event(record)


def test_the_account_acted_in_is_the_records_and_must_agree_with_the_envelope() -> None:
    event = envelope(load_event("authorize_ingress_flat_ruleset.json"))
    recorded = event["detail"]["recipientAccountId"]
    assert parse_event(event).account == recorded
    misaddressed = dict(event, account="999999999999")
    with pytest.raises(EventNotUnderstood, match=f"of account '{recorded}' but arrived as '999999999999'"):
        parse_event(misaddressed)
    forged = dict(event, account="", detail=dict(event["detail"], recipientAccountId="12345678901*"))
    with pytest.raises(EventNotUnderstood, match="is not a 12-digit account ID"):
        parse_event(forged)
