"""`sentry doctor`: is everything the sentry depends on in place? One check per dependency.

Each check answers with a `Check`: passed or not, and what it saw, in words a
person can act on. An AWS error fails only the check that met it. When the
function is deployed, its own environment is judged (what runs), not
config.json (what was meant to run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.adapters.permissions import REQUIRED_PERMISSIONS

from chalicelib.adapters import baseline_file
from chalicelib.domain.config import ConfigError, Settings
from sentrycli.iampolicy import Need, missing
from sentrycli.project import Project

Clients = Callable[..., Any]
TITLES = (
    "configuration",
    "CloudTrail",
    "SNS topic",
    "guarded groups",
    "function and role",
    "EventBridge rule",
    "sweep",
)
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


@dataclass(frozen=True)
class Check:
    ok: bool
    title: str
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.title}: {self.detail}"


class Doctor:
    def __init__(
        self,
        project: Project,
        stage: str,
        region: str,
        clients: Clients,
        function_name: str | None = None,
        sweep_function_name: str | None = None,
    ) -> None:
        self.project, self.stage, self.region, self.clients = project, stage, region, clients
        self.function_name = function_name or project.function_name(stage)
        # Named by chalice deploy unless the handler's name was given (CloudFormation, Terraform).
        self.sweep_function_name = sweep_function_name or (None if function_name else project.sweep_name(stage))

    def run(self) -> list[Check]:
        """Every check, in the order a newcomer would fix them."""
        checks = []
        for title, check in zip(
            TITLES,
            (self.configuration, self.cloudtrail, self.topic, self.groups, self.function, self.rule, self.sweep),
            strict=True,
        ):
            try:
                ok, detail = check()
                checks.append(Check(ok, title, detail))
            except ConfigError as error:
                checks.append(Check(False, title, f"cannot check with a bad configuration ({error})"))
            except (ClientError, BotoCoreError) as error:
                checks.append(Check(False, title, f"AWS answered {error}"))
        return checks

    # --- what the checks share, looked up once -----------------------------

    @cached_property
    def deployed(self) -> dict[str, Any] | None:
        """The deployed function's configuration (with its reserved concurrency), or None."""
        return self._function_configuration(self.function_name)

    def _function_configuration(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.clients("lambda").get_function(FunctionName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        return dict(found["Configuration"]) | {"Concurrency": found.get("Concurrency", {})}

    @cached_property
    def environment(self) -> dict[str, str]:
        if self.deployed is not None:
            return dict(self.deployed.get("Environment", {}).get("Variables", {}))
        return self.project.environment(self.stage)

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env(self.environment)

    @cached_property
    def account(self) -> str:
        return str(self.clients("sts").get_caller_identity()["Account"])

    # --- the checks --------------------------------------------------------

    def configuration(self) -> tuple[bool, str]:
        try:
            settings = self.settings
        except ConfigError as error:
            return False, str(error)
        source = f"the deployed function {self.function_name}" if self.deployed else f"config.json stage {self.stage}"
        detail = f"{source}: mode {settings.policy.mode}, guarding {settings.scope}"
        if self.deployed is not None:
            drift = sorted(
                key
                for key in set(self.environment) | set(self.project.environment(self.stage))
                if self.environment.get(key) != self.project.environment(self.stage).get(key)
            )
            if drift:
                detail += f" (config.json differs in {', '.join(drift)}: redeploy if that is not intended)"
        if settings.dry_run:
            detail += "; DRY RUN: nothing will be reverted"
        return True, detail

    def cloudtrail(self) -> tuple[bool, str]:
        """EventBridge sees API calls only through a trail logging management write events in this region."""
        client = self.clients("cloudtrail")
        trails = client.describe_trails(includeShadowTrails=True)["trailList"]
        here = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == self.region]
        if not here:
            return False, f"no trail covers {self.region}: create one (multi-region is simplest)"
        problems = []
        for trail in here:
            name = trail.get("TrailARN") or trail["Name"]
            try:
                if not client.get_trail_status(Name=name).get("IsLogging"):
                    problems.append(f"{trail['Name']} is not logging")
                elif not logs_management_writes(client.get_event_selectors(TrailName=name)):
                    problems.append(f"{trail['Name']} does not log management write events")
                else:
                    return True, f"trail {trail['Name']} logs management write events in {self.region}"
            except ClientError as error:  # e.g. another account's organization trail: try the next
                problems.append(f"{trail['Name']}: {error.response.get('Error', {}).get('Code')}")
        return False, "; ".join(problems)

    def topic(self) -> tuple[bool, str]:
        topic_arn = self.settings.topic_arn
        if topic_arn is None:
            return False, "SENTRY_TOPIC_ARN is not set: run `sentry setup --email ADDRESS`"
        sns = self.clients("sns", region=topic_arn.split(":")[3])
        try:
            sns.get_topic_attributes(TopicArn=topic_arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFound":
                return False, f"{topic_arn} does not exist"
            raise
        subscriptions = _all(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn)
        # A subscription awaiting confirmation has the ARN "PendingConfirmation".
        confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
        if not confirmed:
            hint = f"{len(subscriptions)} pending: confirm from the email" if subscriptions else "subscribe an address"
            return False, f"{topic_arn} has no confirmed subscription ({hint})"
        endpoints = ", ".join(f"{s['Protocol']}:{s['Endpoint']}" for s in confirmed)
        return True, f"{topic_arn} delivers to {endpoints}"

    def groups(self) -> tuple[bool, str]:
        scope = self.settings.scope
        if not scope.guards_anything:
            return False, "nothing is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG"
        ec2 = self.clients("ec2")
        found, absent = (["every group in the region"] if scope.all_groups else []), []
        for group_id in sorted(scope.group_ids):
            try:
                ec2.describe_security_groups(GroupIds=[group_id])
                found.append(group_id)
            except ClientError as error:
                if "NotFound" not in error.response.get("Error", {}).get("Code", ""):
                    raise
                absent.append(group_id)
        if scope.tag_key is not None:
            label = scope.tag_key + ("" if scope.tag_value is None else f"={scope.tag_value}")
            if scope.tag_value is None:
                tag_filter = {"Name": "tag-key", "Values": [scope.tag_key]}
            else:
                tag_filter = {"Name": f"tag:{scope.tag_key}", "Values": [scope.tag_value]}
            tagged = _all(ec2, "describe_security_groups", "SecurityGroups", Filters=[tag_filter])
            if tagged:
                found.append(f"{len(tagged)} group(s) tagged {label}")
            else:
                absent.append(f"any group tagged {label}")
        if absent:
            return False, f"not found: {', '.join(absent)}"
        return True, ", ".join(found)

    def function(self) -> tuple[bool, str]:
        function = self.deployed
        if function is None:
            return False, f"{self.function_name} is not deployed: run `chalice deploy --stage {self.stage}`"
        problems = self._health(self.function_name, function)
        if problems:
            return False, f"{self.function_name}: " + "; ".join(problems)
        role = function["Role"].rsplit("/", 1)[-1]
        return True, f"{self.function_name} ({function['Runtime']}); role {role} allows every call the sentry makes"

    def sweep(self) -> tuple[bool, str]:
        name = self.sweep_function_name
        if name is None:
            return False, "not checked: pass --sweep-function-name with --function-name"
        function = self._function_configuration(name)
        if function is None:
            return False, f"{name} is not deployed: run `chalice deploy --stage {self.stage}`"
        problems = self._health(name, function)
        events = self.clients("events")
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        schedules = [
            rule["ScheduleExpression"]
            for rule in (
                events.describe_rule(Name=rule_name)
                for rule_name in _all(events, "list_rule_names_by_target", "RuleNames", TargetArn=arn)
            )
            if rule.get("ScheduleExpression") and rule.get("State") == "ENABLED"
        ]
        if not schedules:
            problems.append("no enabled schedule invokes it")
        if problems:
            return False, f"{name}: " + "; ".join(problems)
        approved = baseline_file.load(self.project.baseline_path(self.stage))
        held = sum(1 for group in approved.groups.values() if group.region == self.region)
        return True, f"{name} runs {schedules[0]}, {function['Timeout']} s at most; baseline holds {held} group(s) here"

    def _health(self, name: str, function: dict[str, Any]) -> list[str]:
        """What stops a deployed function from doing its work: its state, its concurrency, its role."""
        problems = []
        if function.get("State") == "Failed" or function.get("LastUpdateStatus") == "Failed":
            reason = function.get("StateReason") or function.get("LastUpdateStatusReason")
            problems.append(f"it is in a failed state ({reason})")
        if function["Concurrency"].get("ReservedConcurrentExecutions") == 0:
            problems.append("its reserved concurrency is 0, so it never runs")
        role = function["Role"].rsplit("/", 1)[-1]
        lacking = missing(_role_documents(self.clients("iam"), role), self.needs(name))
        if lacking:
            problems.append(f"role {role} does not allow {', '.join(lacking)}")
        return problems

    def needs(self, function_name: str | None = None) -> list[Need]:
        """Every action a function of the app needs, on the resources it will touch here."""
        arn = f"arn:aws:{{}}:{self.region}:{self.account}"
        groups = sorted(self.settings.scope.group_ids) or ["sg-00000000000000000"]
        log_group = f"{arn.format('logs')}:log-group:/aws/lambda/{function_name or self.function_name}"
        needs = []
        for action in sorted(REQUIRED_PERMISSIONS):
            if action == "ec2:ModifyNetworkInterfaceAttribute":
                needs += [Need(action, f"{arn.format('ec2')}:security-group/{group}") for group in groups]
                needs.append(Need(action, f"{arn.format('ec2')}:network-interface/eni-00000000000000000"))
            elif action == "ec2:GetManagedPrefixListEntries":
                needs.append(Need(action, f"{arn.format('ec2')}:prefix-list/pl-00000000000000000"))
            elif action.startswith(("ec2:Revoke", "ec2:Authorize", "ec2:Modify", "ec2:CreateTags")):
                needs += [Need(action, f"{arn.format('ec2')}:security-group/{group}") for group in groups]
            elif action == "sns:Publish":
                needs.append(Need(action, self.settings.topic_arn or "*"))
            elif action == "logs:CreateLogGroup":
                needs.append(Need(action, log_group))
            elif action.startswith("logs:"):
                needs.append(Need(action, f"{log_group}:log-stream:2026/01/01/[$LATEST]0"))
            else:
                needs.append(Need(action, "*"))  # describe calls take no resource
        key = self._topic_key()
        if key:
            needs += [Need("kms:GenerateDataKey", key), Need("kms:Decrypt", key)]
        return needs

    def _topic_key(self) -> str | None:
        """The customer-managed KMS key of an encrypted topic: publishing needs it too."""
        topic_arn = self.settings.topic_arn
        if topic_arn is None:
            return None
        try:
            attributes = self.clients("sns", region=topic_arn.split(":")[3]).get_topic_attributes(TopicArn=topic_arn)
        except ClientError:
            return None  # the topic check reports it
        key = attributes["Attributes"].get("KmsMasterKeyId")
        if not key or key == AWS_MANAGED_SNS_KEY:
            return None
        return key if key.startswith("arn:") else None

    def rule(self) -> tuple[bool, str]:
        from app import SECURITY_GROUP_CHANGES

        events = self.clients("events")
        function_arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"
        names = _all(events, "list_rule_names_by_target", "RuleNames", TargetArn=function_arn)
        if not names:
            return False, f"no rule targets {self.function_name}"
        seen = []
        invokers = self._invoking_rules()
        for rule_name in names:
            rule = events.describe_rule(Name=rule_name)
            target = next(
                t for t in _all(events, "list_targets_by_rule", "Targets", Rule=rule_name) if t["Arn"] == function_arn
            )
            problems = []
            if rule.get("State") != "ENABLED":
                problems.append(f"is {rule.get('State')}")
            if json.loads(rule.get("EventPattern") or "{}") != SECURITY_GROUP_CHANGES:
                problems.append("has another event pattern")
            if "Input" in target or "InputPath" in target or "InputTransformer" in target:
                problems.append("rewrites the event before the function sees it")
            if invokers is not None and rule["Arn"] not in invokers and "*" not in invokers:
                problems.append("may not invoke the function (no lambda:InvokeFunction permission for it)")
            if not problems:
                return True, f"{rule_name} is enabled and sends security-group changes to the function"
            seen.append(f"{rule_name} " + ", ".join(problems))
        return False, "; ".join(seen)

    def _invoking_rules(self) -> set[str] | None:
        """Rule ARNs the function's resource policy lets EventBridge invoke it for ('*': any); None if unreadable."""
        try:
            policy = json.loads(self.clients("lambda").get_policy(FunctionName=self.function_name)["Policy"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return set()
            return None
        rules = set()
        for statement in policy.get("Statement", []):
            principal = statement.get("Principal", {})
            service = principal.get("Service") if isinstance(principal, dict) else principal
            if statement.get("Effect") == "Allow" and service == "events.amazonaws.com":
                source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "*")
                rules.add(source)
        return rules


def logs_management_writes(selectors: dict[str, Any]) -> bool:
    """Do a trail's event selectors include management events that are not read-only?"""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return True  # a trail without selectors logs all management events (AWS's default)
    if any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "ReadOnly" for s in basic):
        return True
    for selector in advanced:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        category, read_only = fields.get("eventCategory", {}), fields.get("readOnly", {})
        management = "Management" in category.get("Equals", [])
        reads_only = read_only.get("Equals") == ["true"] or read_only.get("NotEquals") == ["false"]
        if management and not reads_only:
            return True
    return False


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


def _all(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item of a listing, through the paginator when the operation has one."""
    if client.can_paginate(operation):
        pages: Iterable[dict[str, Any]] = client.get_paginator(operation).paginate(**params)
    else:
        pages = [getattr(client, operation)(**params)]
    return [item for page in pages for item in page.get(key, [])]


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)
