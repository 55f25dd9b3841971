"""An organization's stage, account-region by account-region: one line each, and how many are ready.

Each line judges three things there: the forwarding rule (forwarding.py;
not needed in the central home region, whose bus is the one forwarded to),
the member role (member_role.py; once per account, IAM being global; the
deployment's own account needs none) and CloudTrail (trail.py). What one
account cannot be read for (its audit role refused) fails its lines alone;
an AWS error fails only the part that met it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.accounts import AccountLabel, Place
from sentrycli.doctor.accounts import AUDIT_ROLE, Guarded, enter, guarded
from sentrycli.doctor.deployment import Clients, Deployment, Judgement
from sentrycli.doctor.forwarding import central_bus, check_forwarding
from sentrycli.doctor.member_role import MemberRole, central_roles, check_member_role, member_needs, read_member_role
from sentrycli.doctor.trail import trail_covers

Part = tuple[str, bool, str]  # what was judged, passed or not, what was seen


@dataclass(frozen=True)
class PlaceCheck:
    place: Place
    label: AccountLabel
    parts: tuple[Part, ...] = ()
    # Why nothing could be judged there (the account could not be entered).
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None and all(ok for _, ok, _ in self.parts)

    def line(self) -> str:
        said = self.refused or "; ".join(f"{'✓' if ok else '✗'} {title}: {detail}" for title, ok, detail in self.parts)
        return f"{'✓' if self.ok else '✗'} {self.label} in {self.place.region}: {said}"


@dataclass
class Survey:
    """Every guarded account-region's check, with what the lines were judged against."""

    places: list[PlaceCheck] = field(default_factory=list)
    heading: str = ""
    # Why no account-region could be listed (the organization unreadable), else None.
    problem: str | None = None

    @property
    def ready(self) -> int:
        return sum(place.ok for place in self.places)

    def lines(self) -> list[str]:
        found = [self.heading] if self.heading else []
        if self.problem:
            found.append(f"✗ accounts: {self.problem}")
        found += [place.line() for place in self.places]
        found.append(f"{self.ready} of {len(self.places)} account-regions ready")
        return found

    @property
    def ok(self) -> bool:
        return self.problem is None and self.ready == len(self.places)


def survey(deployment: Deployment, audit_role: str = AUDIT_ROLE) -> Survey:
    try:
        where = guarded(deployment)
    except (ClientError, BotoCoreError) as error:
        return Survey(problem=f"cannot list the organization's active accounts (AWS answered {error})")
    trusted, unknown = central_roles(deployment)
    organization_id, unread = organization(deployment)
    trusting = f"trusting the {len(trusted)} central role(s) found"
    if unknown:
        trusting += f" (not {', '.join(unknown)} role)"
    trusting += f" within {organization_id}" if organization_id else f" within the organization ({unread})"
    heading = (
        f"Guarded account-regions: {len(where.accounts)} account(s) x {len(where.regions)} region(s) "
        f"({', '.join(where.regions)}), member accounts read through role {audit_role}. Each line checks: "
        f"a rule forwarding to the central bus {central_bus(deployment.account, deployment.region)}; the member "
        f"role {deployment.settings.member_role}, {trusting}, allowing every member action; CloudTrail. "
        "Not checked: service control policies, permission boundaries, the forwarding role's own permission, "
        "the central bus's policy."
    )
    found = Survey(heading=heading)
    for account in dict.fromkeys(place.account for place in where.places):
        found.places += account_checks(deployment, where, account, audit_role, trusted, organization_id)
    return found


def account_checks(
    deployment: Deployment,
    where: Guarded,
    account: str,
    audit_role: str,
    trusted: list[str],
    organization_id: str | None,
) -> list[PlaceCheck]:
    label = where.label(account)
    regions = where.regions
    try:
        clients = enter(deployment, account, audit_role)
    except (ClientError, BotoCoreError) as error:
        refused = f"not checked: could not assume role {audit_role} there (AWS answered {error})"
        return [PlaceCheck(Place(account, region), label, refused=refused) for region in regions]
    settings = deployment.settings
    own = account == deployment.account
    role = (True, "none needed in the deployment's own account") if own else member_role(clients, settings.member_role)
    bus = central_bus(deployment.account, deployment.region)
    checks = []
    for region in regions:
        if own and region == deployment.region:
            forwarding: Judgement = (True, "none needed: this is the central bus (see the EventBridge rule check)")
        else:
            forwarding = judged(check_forwarding, clients("events", region=region), region, bus)
        if isinstance(role, MemberRole):
            member = check_member_role(role, trusted, organization_id, member_needs(settings, account, region))
        else:
            member = role
        trail = judged(trail_covers, clients("cloudtrail", region=region), region)
        parts = (("forwarding", *forwarding), ("member role", *member), ("CloudTrail", *trail))
        checks.append(PlaceCheck(Place(account, region), label, parts))
    return checks


def member_role(clients: Clients, name: str) -> MemberRole | Judgement:
    """The account's member role, read once (IAM is global); or the judgement that it cannot be."""
    try:
        role = read_member_role(clients("iam"), name)
    except (ClientError, BotoCoreError) as error:
        return False, f"AWS answered {error}"
    except ValueError as error:  # a policy document that is not JSON
        return False, f"cannot read what AWS answered ({error})"
    return (False, f"{name} does not exist in this account") if role is None else role


def organization(deployment: Deployment) -> tuple[str | None, str]:
    """The organization's ID (aws:PrincipalOrgID), and, when it cannot be read, a note saying so."""
    try:
        return str(deployment.clients("organizations").describe_organization()["Organization"]["Id"]), ""
    except (ClientError, BotoCoreError) as error:
        return None, f"its ID unread, so not compared: {error}"


def judged(check: Callable[..., Judgement], *args: Any) -> Judgement:
    """One part's judgement; an AWS error fails that part alone, saying what AWS answered."""
    try:
        return check(*args)
    except (ClientError, BotoCoreError) as error:
        return False, f"AWS answered {error}"
    except ValueError as error:  # e.g. a policy document that is not JSON
        return False, f"cannot read what AWS answered ({error})"
