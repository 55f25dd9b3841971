"""Reading IAM policy documents: does a set of policies allow an action on a resource? Pure; no AWS calls.

What is judged: Allow and Deny, Action and NotAction, Resource and
NotResource, with IAM's wildcards (``*`` and ``?``; actions case-insensitive).
An Allow that carries a Condition is not counted as granting, since whether
it applies cannot be known here; the answer says so. Service control
policies and permission boundaries are not visible in a role's own policies
and are not judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

ANY_RESOURCE = None


@dataclass(frozen=True)
class Need:
    """One action on one resource (None: any resource will do)."""

    action: str
    resource: str | None = "*"

    def __str__(self) -> str:
        return self.action if self.resource in (None, "*") else f"{self.action} on {self.resource}"


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, Mapping) else list(found)


def decision(documents: Iterable[Mapping[str, Any]], need: Need) -> str:
    """'allowed', 'denied', 'conditional' (only a conditional Allow matches) or 'not granted'."""
    every = [statement for document in documents for statement in statements(document)]
    matching = [s for s in every if _covers_action(s, need.action) and _covers_resource(s, need.resource)]
    if any(s.get("Effect") == "Deny" and not s.get("Condition") for s in matching):
        return "denied"
    allows = [s for s in matching if s.get("Effect") == "Allow"]
    if any(not s.get("Condition") for s in allows):
        return "allowed"
    return "conditional" if allows else "not granted"


def missing(documents: Iterable[Mapping[str, Any]], needs: Iterable[Need | str]) -> list[str]:
    """What `documents` do not allow, in words, sorted. A bare action string means: on any resource."""
    documents = list(documents)
    lacking = []
    for need in needs:
        need = Need(need, ANY_RESOURCE) if isinstance(need, str) else need
        verdict = decision(documents, need)
        if verdict != "allowed":
            lacking.append(str(need) + ("" if verdict == "not granted" else f" ({verdict})"))
    return sorted(lacking)


def differences(document: Mapping[str, Any], needs: Iterable[Need]) -> list[str]:
    """How `document` differs from granting exactly `needs`, in words, sorted: none when it grants just those.

    Every need must be allowed; and every resource a statement names for an
    action must be one that action needs, or one another action needs whose
    trailing ``*`` reaches a resource this action needs (the ARN of a log
    group, ``...:log-group:NAME*``, reaches its streams, ``NAME:log-stream:S``).
    Only plain Allow statements of actions on resources can be compared so.
    """
    needs = list(needs)
    needed: dict[str, set[str]] = {}
    for need in needs:
        needed.setdefault(need.action, set()).add("*" if need.resource is None else need.resource)
    named = {resource for resources in needed.values() for resource in resources}
    found = [f"not granted: {lacking}" for lacking in missing([document], needs)]
    for statement in statements(document):
        sid = statement.get("Sid", "a statement without Sid")
        if statement.get("Effect") != "Allow" or set(statement) - {"Sid", "Effect", "Action", "Resource"}:
            found.append(f"{sid}: not a plain Allow of actions on resources")
            continue
        for action in _listed(statement.get("Action")):
            wanted = needed.get(action)
            if wanted is None:
                found.append(f"{sid}: {action} is not needed")
                continue
            for resource in _listed(statement.get("Resource")):
                reaches = resource.endswith("*") and resource in named and any(w.startswith(resource) for w in wanted)
                if resource not in wanted and not reaches:
                    found.append(f"{sid}: {action} on {resource} is not needed")
    return sorted(found)


def granted_actions(document: Mapping[str, Any]) -> set[str]:
    """Every action named by an Allow statement, as written."""
    return {action for s in statements(document) if s.get("Effect") == "Allow" for action in _listed(s.get("Action"))}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _covers_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(fnmatchcase(action.lower(), p.lower()) for p in _listed(statement["NotAction"]))
    return any(fnmatchcase(action.lower(), p.lower()) for p in _listed(statement.get("Action")))


def _covers_resource(statement: Mapping[str, Any], resource: str | None) -> bool:
    if resource is None:
        return True
    if "NotResource" in statement:
        return not any(fnmatchcase(resource, p) for p in _listed(statement["NotResource"]))
    return any(fnmatchcase(resource, p) for p in _listed(statement.get("Resource")))
