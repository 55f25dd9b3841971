"""Reading IAM policy documents: which actions they allow. Pure; no AWS calls.

Only actions are judged (Allow/Deny, Action/NotAction, IAM's case-insensitive
``*`` and ``?`` wildcards); resources and conditions are not, which is what
`sentry doctor` and the policy tests need: "is every call the sentry makes
granted at all?". Resource scoping is checked by parliament in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, Mapping) else list(found)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(action: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


def _covers(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not _matches(action, _listed(statement["NotAction"]))
    return _matches(action, _listed(statement.get("Action")))


def is_allowed(documents: Iterable[Mapping[str, Any]], action: str) -> bool:
    """True when some statement allows `action` and none denies it."""
    every = [statement for document in documents for statement in statements(document)]
    if any(s.get("Effect") == "Deny" and _covers(s, action) for s in every):
        return False
    return any(s.get("Effect") == "Allow" and _covers(s, action) for s in every)


def missing(documents: Iterable[Mapping[str, Any]], actions: Iterable[str]) -> list[str]:
    """The actions that `documents` do not allow, sorted."""
    documents = list(documents)
    return sorted(action for action in actions if not is_allowed(documents, action))


def granted_actions(document: Mapping[str, Any]) -> set[str]:
    """Every action named by an Allow statement, as written."""
    return {action for s in statements(document) if s.get("Effect") == "Allow" for action in _listed(s.get("Action"))}
