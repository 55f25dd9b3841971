"""A member account's member role: there, trusting the central functions' roles within the organization, and
allowing every EC2 permission the member declaration (permissions.MEMBER) names, in every guarded region.

IAM is global, so the role is read once per account (and judged for each
region's resources). Only the role's own documents are read: its trust policy, and its inline and attached policies
(iampolicy.py says what it judges in them). Service control policies and
permission boundaries are not visible here and are not judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from chalicelib.adapters.permissions import MEMBER, resources
from chalicelib.domain.accounts import SESSION_PREFIX
from chalicelib.domain.config import Settings
from sentrycli.doctor.deployment import Deployment, Judgement
from sentrycli.doctor.role import EXAMPLES, role_documents
from sentrycli.iampolicy import Need, missing, statements

# A session name as the sentry opens them in a member account (accounts.session_name of an event ID).
SENTRY_SESSION = SESSION_PREFIX + "6b1c0f7e-0000-4000-8000-000000000000"


def central_roles(deployment: Deployment) -> tuple[list[str], list[str]]:
    """The role ARNs of the central functions found deployed, and what is said of those not found."""
    found, absent = [], []
    for what, name in deployment.central_functions.items():
        if name is None:
            absent.append(f"the {what}'s (pass --{what}-function-name)")
            continue
        function = deployment.deployed if name == deployment.function_name else deployment.function_configuration(name)
        if function is None:
            absent.append(f"{name}'s (not deployed)")
        elif function["Role"] not in found:
            found.append(str(function["Role"]))
    return found, absent


def member_needs(settings: Settings, account: str, region: str) -> list[Need]:
    """Every member permission, on the resources the sentry touches in `account` and `region`."""
    place = replace(
        EXAMPLES, account=account, region=region, group_ids=sorted(settings.scope.group_ids) or EXAMPLES.group_ids
    )
    return [Need(permission.action, permission.resource) for permission in resources(place, MEMBER)]


@dataclass(frozen=True)
class MemberRole:
    """A member role as IAM holds it: its trust policy and its own (inline and attached) policies."""

    name: str
    trust: Mapping[str, Any]
    documents: list[dict[str, Any]]


def read_member_role(iam: Any, role_name: str) -> MemberRole | None:
    """`iam`: a client in the member account. None when there is no such role; raises other AWS errors."""
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return None
        raise
    return MemberRole(role_name, _document(role["AssumeRolePolicyDocument"]), role_documents(iam, role_name))


def check_member_role(
    role: MemberRole, trusted: Sequence[str], organization_id: str | None, needs: Sequence[Need]
) -> Judgement:
    """`trusted`: the central roles' ARNs; `organization_id`: None if unread; `needs`: the region's."""
    problems = trust_problems(role.trust, trusted, organization_id)
    denied = missing(role.documents, needs)
    if denied:
        problems.append(f"does not allow {', '.join(denied)}")
    if problems:
        return False, f"{role.name} " + "; ".join(problems)
    within = organization_id or "the organization (its ID was not read, so not compared)"
    actions = len({need.action for need in needs})
    return (
        True,
        f"{role.name} trusts the {len(trusted)} central role(s) within {within}, allows the {actions} member actions",
    )


def trust_problems(document: Mapping[str, Any], trusted: Sequence[str], organization_id: str | None) -> list[str]:
    """How a trust policy fails to let each of `trusted` assume the role, as the sentry does, in words."""
    admitting = [s for s in statements(document) if s.get("Effect") == "Allow" and _assumes(s)]
    problems = []
    every = [principal for s in admitting for principal in _principals(s)]
    broad = sorted({p for p in every if p == "*" or p.endswith(":root")})
    if broad:
        problems.append(f"trusts more than the central roles: {', '.join(broad)}")
    if not trusted:
        problems.append("cannot be judged: no central function is deployed, so their roles are unknown")
    for arn in trusted:
        naming = [s for s in admitting if arn in _principals(s) or "*" in _principals(s)]
        if not naming:
            hint = " (a principal shown as an ID, AROA..., is a role deleted since)" if _ids(every) else ""
            problems.append(f"does not trust {arn}{hint}")
        elif not any(_in_organization(s, organization_id) for s in naming):
            where = organization_id or "any organization"
            problems.append(f"trusts {arn} without requiring aws:PrincipalOrgID {where}")
        elif not any(_in_organization(s, organization_id) and _admits_session(s) for s in naming):
            problems.append(f"trusts {arn} only for sessions not named {SESSION_PREFIX}*, as the sentry's are")
    return problems


def _assumes(statement: Mapping[str, Any]) -> bool:
    return any(fnmatchcase("sts:assumerole", action.lower()) for action in _listed(statement.get("Action")))


def _in_organization(statement: Mapping[str, Any], organization_id: str | None) -> bool:
    values = _condition(statement, "aws:principalorgid", ("stringequals", "stringlike"))
    if organization_id is None:
        return bool(values)
    return any(fnmatchcase(organization_id, value) for value in values)


def _admits_session(statement: Mapping[str, Any]) -> bool:
    values = _condition(statement, "sts:rolesessionname", ("stringequals", "stringlike"))
    named = any(key.lower() == "sts:rolesessionname" for block in _conditions(statement).values() for key in block)
    return not named or any(fnmatchcase(SENTRY_SESSION, value) for value in values)


def _conditions(statement: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    found = statement.get("Condition") or {}
    return found if isinstance(found, Mapping) else {}


def _condition(statement: Mapping[str, Any], key: str, operators: Sequence[str]) -> list[str]:
    """The values a statement's condition tests `key` against with one of `operators` (keys case-insensitive)."""
    return [
        value
        for operator, block in _conditions(statement).items()
        if operator.lower() in operators
        for name, values in block.items()
        if name.lower() == key
        for value in _listed(values)
    ]


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    return _listed(principal.get("AWS")) if isinstance(principal, Mapping) else []


def _ids(principals: Iterable[str]) -> bool:
    return any(principal.startswith("AROA") for principal in principals)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


def _document(value: Any) -> Mapping[str, Any]:
    """A policy document as IAM returns it: a mapping (boto3 decodes it), or URL-encoded JSON."""
    if isinstance(value, str):
        return json.loads(unquote(value))  # type: ignore[no-any-return]
    return dict(value)
