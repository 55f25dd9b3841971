"""A member account-region's forwarding rule: enabled, with the sentry's pattern, onto the central default bus.

CloudTrail's events reach EventBridge in the account and region of the
call, so every guarded account-region but the central home region needs a
rule on its default bus sending them, as they are, to the central account's
default bus (templates/member.json makes it). Whether the rule's role may
put events there, and whether the central bus's policy lets them in, is not
read here.
"""

from __future__ import annotations

from typing import Any

from sentrycli.doctor.deployment import Judgement, listing
from sentrycli.doctor.rule import delivery_problems


def central_bus(account: str, region: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/default"


def check_forwarding(events: Any, region: str, bus: str) -> Judgement:
    """`events`: an EventBridge client in the member account and `region`; `bus`: the central bus's ARN."""
    names = listing(events, "list_rule_names_by_target", "RuleNames", TargetArn=bus)
    if not names:
        return False, f"no rule on the default bus sends events to {bus}"
    seen = []
    for name in names:
        _, problems = delivery_problems(events, name, bus, "the central bus", needs_role=bus.split(":")[3] != region)
        if not problems:
            return True, f"rule {name} is enabled and forwards security-group changes to the central bus"
        seen.append(f"rule {name} " + ", ".join(problems))
    return False, "; ".join(seen)
