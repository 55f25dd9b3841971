"""What CloudTrail would record for a security-group call: the part AWS does in production.

In production, EC2 logs each API call to CloudTrail and EventBridge delivers
the record to the sentry within seconds. moto does neither, so the demo and
the functional tests make the call through the EC2 API and then build the
record CloudTrail would emit for it, in CloudTrail's own encoding (lists as
``{"items": [...]}``, empty lists as ``{}``, lowerCamelCase keys, and the
PascalCase wrapper of ModifySecurityGroupRules).

`apply` makes the call and captures the rules it created the way AWS's
``securityGroupRuleSet`` reports them: every one of them, with its ID.

Calls that open a group without a rule change of their own (tags, prefix
lists, interfaces, launches) are recorded from their request and their
answer: `record(..., response=...)`. These records follow the EC2 query
API's logging (``resourcesSet``, ``tagSet``, ``groupSet``, ``instancesSet``);
the newer prefix-list calls log their request in PascalCase under
``<Operation>Request``, as ModifySecurityGroupRules does. No real record of
the prefix-list calls was at hand (shared/reference has none): the sentry
finds the IDs it needs wherever a record holds them, so a shape that
differs does not hide the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from chalicelib.cloudtrail.records import envelope

ACCOUNT = "123456789012"

IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLEALICE0001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAEXAMPLEALICE0001",
    "userName": "alice",
}


def assumed_role(
    role: str, session: str, account: str = ACCOUNT, created: str = "2026-11-23T08:00:00Z"
) -> dict[str, Any]:
    """A ``userIdentity`` for a session of an IAM role (CI pipelines, SSO users), `created` when it began."""
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE{role.upper()[:8]}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLESESSION01",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROAEXAMPLE{role.upper()[:8]}",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
        },
    }


def apply(ec2: Any, operation: str, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Call an Authorize* or Revoke* operation; return its response and the rules it created or removed.

    The rules are found by comparing the group's rules before and after,
    which is exactly what AWS's ``securityGroupRuleSet`` (or, for a revoke,
    ``revokedSecurityGroupRuleSet``) lists.
    """
    group_filter = [{"Name": "group-id", "Values": [_group_id(ec2, params)]}]

    def rule_ids() -> dict[str, dict[str, Any]]:
        pages = ec2.get_paginator("describe_security_group_rules").paginate(Filters=group_filter)
        return {rule["SecurityGroupRuleId"]: rule for page in pages for rule in page["SecurityGroupRules"]}

    before = rule_ids()
    response = getattr(ec2, snake(operation))(**params)
    after = rule_ids()
    if operation.startswith("Revoke"):
        return response, [rule for rule_id, rule in before.items() if rule_id not in after]
    return response, [rule for rule_id, rule in after.items() if rule_id not in before]


def record(
    operation: str,
    params: Mapping[str, Any],
    created: list[dict[str, Any]] | None = None,
    *,
    region: str,
    identity: Mapping[str, Any] = IAM_USER,
    source_ip: str = "198.51.100.23",
    user_agent: str = "aws-cli/2.22.0 md/command#ec2.authorize-security-group-ingress",
    with_rule_set: bool = True,
    error: tuple[str, str] | None = None,
    event_time: str = "2026-11-23T09:15:00Z",
    response: Mapping[str, Any] | None = None,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """The CloudTrail record of one call, made in `account`. ``with_rule_set=False`` gives the pre-2021 shape.

    `response` is boto3's answer, for the calls that are not rule changes (see the module's text).
    """
    request_id = str(uuid.uuid4())
    entry: dict[str, Any] = {
        "eventVersion": "1.10",
        "userIdentity": dict(identity),
        "eventTime": event_time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": operation,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": _request(operation, params),
        "responseElements": None,
        "requestID": request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if operation in WRAPPED:
        entry["requestParameters"] = {f"{operation}Request": _pascal_items(dict(params))}
    elif operation not in RULE_OPERATIONS:
        entry["requestParameters"] = _query_request(params)
    if error is not None:
        entry["errorCode"], entry["errorMessage"] = error
    elif operation not in RULE_OPERATIONS:
        answer = {key: value for key, value in (response or {}).items() if key != "ResponseMetadata"}
        elements = {"requestId": request_id, **_query_response(answer)}
        entry["responseElements"] = {f"{operation}Response": elements} if operation in WRAPPED else elements
    elif operation == "ModifySecurityGroupRules":
        entry["responseElements"] = {"ModifySecurityGroupRulesResponse": {"requestId": request_id, "return": True}}
    else:
        entry["responseElements"] = {"requestId": request_id, "_return": True}
        if with_rule_set:
            key = "revokedSecurityGroupRuleSet" if operation.startswith("Revoke") else "securityGroupRuleSet"
            entry["responseElements"][key] = _items(
                [_camel({key: value for key, value in rule.items() if key != "Tags"}) for rule in created or []]
            )
    return entry


RULE_OPERATIONS = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
)
# Newer EC2 calls log their request and response in PascalCase, each under one wrapper.
WRAPPED = ("ModifyManagedPrefixList", "RestoreManagedPrefixListVersion")
# boto3's names -> the query API's logged names.
_QUERY_NAMES = {
    "Resources": "resourcesSet",
    "Tags": "tagSet",
    "Groups": "groupSet",
    "SecurityGroupIds": "groupSet",
    "Instances": "instancesSet",
    "NetworkInterfaces": "networkInterfaceSet",
}


def _query_request(params: Mapping[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {}
    for key, value in params.items():
        name = _QUERY_NAMES.get(key, key[:1].lower() + key[1:])
        if key == "Resources":
            value = [{"resourceId": resource} for resource in value]
        elif key in ("Groups", "SecurityGroupIds"):
            value = [{"groupId": group} for group in value]
        request[name] = _query_value(value)
    return request


def _query_response(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_QUERY_NAMES.get(k, k[:1].lower() + k[1:]): _query_response(v) for k, v in value.items()}
    if isinstance(value, list):
        return _items([_query_response(item) for item in value])
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _query_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k[:1].lower() + k[1:]: _query_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return _items([_query_value(item) for item in value])
    return value


def _pascal_items(params: dict[str, Any]) -> dict[str, Any]:
    # As ModifySecurityGroupRules logs its list: each item numbered with a "tag", singular names.
    logged: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, list):
            items = [dict(item, tag=number) for number, item in enumerate(value, start=1)]
            singular = key[:-3] + "y" if key.endswith("ies") else key.removesuffix("s")
            logged[singular] = items[0] if len(items) == 1 else items
        else:
            logged[key] = value
    return logged


def instance_running(instance_id: str, region: str, account: str = ACCOUNT) -> dict[str, Any]:
    """EventBridge's own notice that an instance is running (not a CloudTrail record): what moto never sends."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": account,
        "time": "2026-11-23T09:16:00Z",
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": "running"},
    }


def eventbridge(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap a CloudTrail record the way EventBridge delivers it to the function."""
    return envelope(entry)


def _request(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if operation == "ModifySecurityGroupRules":
        rules = [
            {
                "SecurityGroupRuleId": rule["SecurityGroupRuleId"],
                "tag": number,
                "SecurityGroupRule": rule["SecurityGroupRule"],
            }
            for number, rule in enumerate(params["SecurityGroupRules"], start=1)
        ]
        # One rule is logged as an object, several as a list.
        logged = rules[0] if len(rules) == 1 else rules
        return {"ModifySecurityGroupRulesRequest": {"GroupId": params["GroupId"], "SecurityGroupRule": logged}}
    request = {_NAMES.get(key, key[:1].lower() + key[1:]): _camel(value) for key, value in params.items()}
    # The flat form (CidrIp, IpProtocol, ...) still logs an empty ipPermissions.
    request.setdefault("ipPermissions", {})
    return request


_NAMES = {"UserIdGroupPairs": "groups", "SecurityGroupRules": "securityGroupRuleSet", "Tags": "tagSet"}


def _camel(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_NAMES.get(key, key[:1].lower() + key[1:]): _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return _items([_camel(item) for item in value])
    return value


def _items(values: list[Any]) -> dict[str, Any]:
    return {"items": values} if values else {}


def _group_id(ec2: Any, params: Mapping[str, Any]) -> str:
    if "GroupId" in params:
        return str(params["GroupId"])
    groups = ec2.describe_security_groups(GroupNames=[params["GroupName"]])["SecurityGroups"]
    return str(groups[0]["GroupId"])


def snake(name: str) -> str:
    return "".join("_" + char.lower() if char.isupper() else char for char in name).lstrip("_")
