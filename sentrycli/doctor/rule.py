"""The EventBridge rule: enabled, with the app's pattern, sending the event as it is, and allowed to invoke."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sentrycli.doctor.deployment import Deployment, Judgement, listing


def delivery_problems(
    events: Any, rule_name: str, target_arn: str, receiver: str, needs_role: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """A rule sending to `target_arn`, and what keeps it from delivering the sentry's events, as they are, to it.

    The one judgement of a rule for both the function's rule and a member account's forwarding rule
    (`needs_role`: EventBridge sends to a bus in another region only with a role).
    """
    from app import SECURITY_GROUP_CHANGES

    rule: dict[str, Any] = events.describe_rule(Name=rule_name)
    target = next(
        t for t in listing(events, "list_targets_by_rule", "Targets", Rule=rule_name) if t["Arn"] == target_arn
    )
    problems = []
    if rule.get("State") != "ENABLED":
        problems.append(f"is {rule.get('State')}")
    if json.loads(rule.get("EventPattern") or "{}") != SECURITY_GROUP_CHANGES:
        problems.append("has another event pattern than the sentry's")
    if "Input" in target or "InputPath" in target or "InputTransformer" in target:
        problems.append(f"rewrites the event before {receiver} gets it")
    if needs_role and not target.get("RoleArn"):
        problems.append("has no role, which EventBridge needs to send to another region")
    return rule, problems


def check_rule(deployment: Deployment) -> Judgement:
    events = deployment.clients("events")
    function_arn = deployment.function_arn(deployment.function_name)
    names = listing(events, "list_rule_names_by_target", "RuleNames", TargetArn=function_arn)
    if not names:
        return False, f"no rule targets {deployment.function_name}"
    seen = []
    invokers = invoking_rules(deployment)
    for rule_name in names:
        rule, problems = delivery_problems(events, rule_name, function_arn, "the function")
        if invokers is not None and rule["Arn"] not in invokers and "*" not in invokers:
            problems.append("may not invoke the function (no lambda:InvokeFunction permission for it)")
        if not problems:
            return True, f"{rule_name} is enabled and sends security-group changes to the function"
        seen.append(f"{rule_name} " + ", ".join(problems))
    return False, "; ".join(seen)


def invoking_rules(deployment: Deployment) -> set[str] | None:
    """Rule ARNs the function's resource policy lets EventBridge invoke it for ('*': any); None if unreadable."""
    try:
        answer = deployment.clients("lambda").get_policy(FunctionName=deployment.function_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return set()
        return None
    rules = set()
    for statement in json.loads(answer["Policy"]).get("Statement", []):
        principal = statement.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        if statement.get("Effect") == "Allow" and service == "events.amazonaws.com":
            rules.add(statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "*"))
    return rules
