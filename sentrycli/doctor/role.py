"""A function's role: does it allow every permission the adapters declare, on the resources met here?

The permissions and their resources come from chalicelib/adapters/permissions.py,
the declaration the shipped policy is tested against, rendered for this
account and region, the configured topic and groups, and the function's logs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from chalicelib.adapters.permissions import ANY, Place, resources
from chalicelib.adapters.sns import SnsNotifier
from sentrycli.doctor.deployment import Deployment, listing
from sentrycli.doctor.topic import topic_key
from sentrycli.iampolicy import Need, missing

# What stands for a resource no setting names: a group (when only a tag is guarded), a rule, an
# interface, a prefix list, a log stream of the function.
EXAMPLES = Place(
    group_ids=("sg-00000000000000000",),
    rule_id="sgr-00000000000000000",
    interface_id="eni-00000000000000000",
    prefix_list_id="pl-00000000000000000",
    log_stream="2026/01/01/[$LATEST]0",
)


def lacking(deployment: Deployment, role: str, function_name: str) -> list[str]:
    """What the role does not allow of what the function needs, in words, sorted."""
    return missing(role_documents(deployment.clients("iam"), role), needs(deployment, function_name))


def needs(deployment: Deployment, function_name: str) -> list[Need]:
    """Every permission a function of the app needs, on the resources it will touch here."""
    settings = deployment.settings
    place = replace(
        EXAMPLES,
        region=deployment.region,
        account=deployment.account,
        group_ids=sorted(settings.scope.group_ids) or EXAMPLES.group_ids,
        topic_arn=settings.topic_arn or ANY,
        chat_topic_arn=settings.chat_topic_arn,
        function_name=function_name,
    )
    declared = resources(place)
    key = topic_key(deployment)
    if key:
        declared += resources(replace(place, key_arn=key), SnsNotifier.ENCRYPTED_TOPIC_PERMISSIONS)
    return [Need(permission.action, permission.resource) for permission in declared]


def role_documents(iam: Any, role: str) -> list[dict[str, Any]]:
    """The role's inline and attached policies."""
    documents = [
        _json(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        for name in listing(iam, "list_role_policies", "PolicyNames", RoleName=role)
    ]
    for attached in listing(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role):
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        documents.append(_json(version["PolicyVersion"]["Document"]))
    return documents


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)
