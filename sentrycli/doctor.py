"""`sentry doctor`: is everything the sentry depends on in place? One check per dependency.

Each check is a function of the stage's settings and an AWS client factory,
and answers with a `Check`: passed or not, and what it saw, in words a
person can act on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import ConfigError, Settings
from chalicelib.sentry import REQUIRED_PERMISSIONS
from sentrycli import iampolicy
from sentrycli.project import Project

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Check:
    ok: bool
    title: str
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.title}: {self.detail}"


def run_checks(project: Project, stage: str, region: str, clients: Clients) -> list[Check]:
    """Every check, in the order a newcomer would fix them; an AWS error fails only its own check."""
    env = project.environment(stage)
    try:
        settings = Settings.from_env(env)
    except ConfigError as error:
        return [Check(False, "configuration", str(error))]
    checks = [Check(True, "configuration", f"stage {stage}: mode {settings.policy.mode}, guarding {settings.scope}")]
    for check in (cloudtrail, topic, groups, function_and_role, event_rule):
        try:
            checks.append(check(project, stage, region, settings, clients))
        except (ClientError, BotoCoreError) as error:
            checks.append(Check(False, check.__name__.replace("_", " "), f"AWS answered {error}"))
    return checks


def cloudtrail(project: Project, stage: str, region: str, settings: Settings, clients: Clients) -> Check:
    """EventBridge sees API calls only through a trail logging management write events in this region."""
    title = "CloudTrail"
    client = clients("cloudtrail")
    trails = client.describe_trails(includeShadowTrails=True)["trailList"]
    here = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == region]
    if not here:
        return Check(False, title, f"no trail covers {region}: create one (multi-region is simplest)")
    problems = []
    for trail in here:
        name = trail.get("TrailARN") or trail["Name"]
        if not client.get_trail_status(Name=name).get("IsLogging"):
            problems.append(f"{trail['Name']} is not logging")
        elif not _logs_management_writes(client.get_event_selectors(TrailName=name)):
            problems.append(f"{trail['Name']} does not log management write events")
        else:
            return Check(True, title, f"trail {trail['Name']} logs management write events in {region}")
    return Check(False, title, "; ".join(problems))


def _logs_management_writes(selectors: dict[str, Any]) -> bool:
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return True  # a trail without selectors logs all management events (AWS's default)
    if any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "ReadOnly" for s in basic):
        return True
    for selector in advanced:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {}).get("Equals", [])
        read_only = fields.get("readOnly", {}).get("Equals", [])
        if "Management" in category and read_only != ["true"]:
            return True
    return False


def topic(project: Project, stage: str, region: str, settings: Settings, clients: Clients) -> Check:
    title = "SNS topic"
    if settings.topic_arn is None:
        return Check(False, title, "SENTRY_TOPIC_ARN is not set: run `sentry setup --email ADDRESS`")
    sns = clients("sns")
    try:
        sns.get_topic_attributes(TopicArn=settings.topic_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NotFound":
            return Check(False, title, f"{settings.topic_arn} does not exist")
        raise
    subscriptions = _all(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=settings.topic_arn)
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
    if not confirmed:
        pending = len(subscriptions)
        hint = f"{pending} pending: confirm from the email" if pending else "subscribe an address"
        return Check(False, title, f"{settings.topic_arn} has no confirmed subscription ({hint})")
    endpoints = ", ".join(f"{s['Protocol']}:{s['Endpoint']}" for s in confirmed)
    return Check(True, title, f"{settings.topic_arn} delivers to {endpoints}")


def groups(project: Project, stage: str, region: str, settings: Settings, clients: Clients) -> Check:
    title = "guarded groups"
    scope = settings.scope
    if not scope.guards_anything:
        return Check(False, title, "nothing is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG")
    ec2 = clients("ec2")
    found: list[str] = []
    if scope.all_groups:
        found.append("every group in the region")
    missing = []
    for group_id in sorted(scope.group_ids):
        try:
            ec2.describe_security_groups(GroupIds=[group_id])
            found.append(group_id)
        except ClientError as error:
            if "NotFound" not in error.response.get("Error", {}).get("Code", ""):
                raise
            missing.append(group_id)
    if scope.tag_key is not None:
        name = "tag:" + scope.tag_key if scope.tag_value is not None else "tag-key"
        values = [scope.tag_value] if scope.tag_value is not None else [scope.tag_key]
        tagged = _all(ec2, "describe_security_groups", "SecurityGroups", Filters=[{"Name": name, "Values": values}])
        if tagged:
            found.append(f"{len(tagged)} group(s) tagged {scope.tag_key}")
        else:
            missing.append(f"any group tagged {scope.tag_key}" + (f"={scope.tag_value}" if scope.tag_value else ""))
    if missing:
        return Check(False, title, f"not found: {', '.join(missing)}")
    return Check(True, title, ", ".join(found))


def function_and_role(project: Project, stage: str, region: str, settings: Settings, clients: Clients) -> Check:
    title = "function and role"
    name = project.function_name(stage)
    try:
        function = clients("lambda").get_function(FunctionName=name)["Configuration"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return Check(False, title, f"{name} is not deployed: run `chalice deploy --stage {stage}`")
        raise
    role = function["Role"].rsplit("/", 1)[-1]
    lacking = iampolicy.missing(_role_documents(clients("iam"), role), REQUIRED_PERMISSIONS)
    if lacking:
        return Check(False, title, f"role {role} does not allow {', '.join(lacking)}")
    return Check(True, title, f"{name} ({function['Runtime']}); role {role} allows every call the sentry makes")


def event_rule(project: Project, stage: str, region: str, settings: Settings, clients: Clients) -> Check:
    title = "EventBridge rule"
    from app import SECURITY_GROUP_CHANGES

    events = clients("events")
    function_arn = f"arn:aws:lambda:{region}:{_account(clients)}:function:{project.function_name(stage)}"
    names = _all(events, "list_rule_names_by_target", "RuleNames", TargetArn=function_arn)
    if not names:
        return Check(False, title, f"no rule targets {project.function_name(stage)}")
    seen = []
    for rule_name in names:
        rule = events.describe_rule(Name=rule_name)
        pattern_ok = json.loads(rule.get("EventPattern") or "{}") == SECURITY_GROUP_CHANGES
        if rule.get("State") == "ENABLED" and pattern_ok:
            return Check(True, title, f"{rule_name} is enabled and sends security-group changes to the function")
        seen.append(f"{rule_name} is {rule.get('State')}" + ("" if pattern_ok else " with another pattern"))
    return Check(False, title, "; ".join(seen))


def _role_documents(iam: Any, role: str) -> list[dict[str, Any]]:
    documents = [
        _json(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        for name in _all(iam, "list_role_policies", "PolicyNames", RoleName=role)
    ]
    for attached in _all(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role):
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        documents.append(_json(version["PolicyVersion"]["Document"]))
    return documents


def _account(clients: Clients) -> str:
    return str(clients("sts").get_caller_identity()["Account"])


def _all(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item of a listing, through the paginator when the operation has one."""
    if client.can_paginate(operation):
        pages: Iterable[dict[str, Any]] = client.get_paginator(operation).paginate(**params)
    else:
        pages = [getattr(client, operation)(**params)]
    return [item for page in pages for item in page.get(key, [])]


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)
