"""A member account-region's forwarding rule: enabled, with the sentry's pattern, onto the central default bus.

CloudTrail's events reach EventBridge in the account and region of the
call, so every guarded account-region but the central home region needs a
rule on its default bus sending them, as they are, to the central account's
default bus (templates/member.json makes it). Whether the rule's role may
put events there, and whether the central bus's policy lets them in, is not
read here.
"""

from __future__ import annotations

import json
from typing import Any

from sentrycli.doctor.deployment import Judgement, listing


def central_bus(account: str, region: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/default"


def check_forwarding(events: Any, region: str, bus: str) -> Judgement:
    """`events`: an EventBridge client in the member account and `region`; `bus`: the central bus's ARN."""
    from app import SECURITY_GROUP_CHANGES

    names = listing(events, "list_rule_names_by_target", "RuleNames", TargetArn=bus)
    if not names:
        return False, f"no rule on the default bus sends events to {bus}"
    seen = []
    for name in names:
        rule = events.describe_rule(Name=name)
        target = next(t for t in listing(events, "list_targets_by_rule", "Targets", Rule=name) if t["Arn"] == bus)
        problems = []
        if rule.get("State") != "ENABLED":
            problems.append(f"is {rule.get('State')}")
        if json.loads(rule.get("EventPattern") or "{}") != SECURITY_GROUP_CHANGES:
            problems.append("has another event pattern than the sentry's")
        if "Input" in target or "InputPath" in target or "InputTransformer" in target:
            problems.append("rewrites the event before the central bus gets it")
        if not target.get("RoleArn") and bus.split(":")[3] != region:
            problems.append("has no role, which EventBridge needs to send to another region")
        if not problems:
            return True, f"rule {name} is enabled and forwards security-group changes to the central bus"
        seen.append(f"rule {name} " + ", ".join(problems))
    return False, "; ".join(seen)
