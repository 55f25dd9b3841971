"""The two deployed functions: there, able to run, allowed every call, and (the sweep) on a schedule."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import baseline_file
from sentrycli.doctor.deployment import Deployment, Judgement, listing
from sentrycli.doctor.role import lacking


def check_function(deployment: Deployment) -> Judgement:
    name, function = deployment.function_name, deployment.deployed
    if function is None:
        return False, f"{name} is not deployed: run `chalice deploy --stage {deployment.stage}`"
    problems = health(deployment, name, function)
    if problems:
        return False, f"{name}: " + "; ".join(problems)
    role = function["Role"].rsplit("/", 1)[-1]
    return True, f"{name} ({function['Runtime']}); role {role} allows every call the sentry makes"


def check_sweep(deployment: Deployment) -> Judgement:
    name = deployment.sweep_function_name
    if name is None:
        return False, "not checked: pass --sweep-function-name with --function-name"
    function = deployment.function_configuration(name)
    if function is None:
        return False, f"{name} is not deployed: run `chalice deploy --stage {deployment.stage}`"
    problems = health(deployment, name, function)
    events = deployment.clients("events")
    schedules = [
        rule["ScheduleExpression"]
        for rule in (
            events.describe_rule(Name=rule_name)
            for rule_name in listing(
                events, "list_rule_names_by_target", "RuleNames", TargetArn=deployment.function_arn(name)
            )
        )
        if rule.get("ScheduleExpression") and rule.get("State") == "ENABLED"
    ]
    if not schedules:
        problems.append("no enabled schedule invokes it")
    if problems:
        return False, f"{name}: " + "; ".join(problems)
    approved = baseline_file.load(deployment.project.baseline_path(deployment.stage))
    held = sum(1 for group in approved.groups.values() if group.region == deployment.region)
    return True, f"{name} runs {schedules[0]}, {function['Timeout']} s at most; baseline holds {held} group(s) here"


def health(deployment: Deployment, name: str, function: dict[str, Any]) -> list[str]:
    """What stops a deployed function from doing its work: its state, its concurrency, its role."""
    problems = []
    if function.get("State") == "Failed" or function.get("LastUpdateStatus") == "Failed":
        reason = function.get("StateReason") or function.get("LastUpdateStatusReason")
        problems.append(f"it is in a failed state ({reason})")
    if function["Concurrency"].get("ReservedConcurrentExecutions") == 0:
        problems.append("its reserved concurrency is 0, so it never runs")
    role = function["Role"].rsplit("/", 1)[-1]
    denied = lacking(deployment, role, name)
    if denied:
        problems.append(f"role {role} does not allow {', '.join(denied)}")
    return problems
