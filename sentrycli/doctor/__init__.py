"""`sentry doctor`: is everything the sentry depends on in place? One check per dependency.

Each check answers with a `Check`: passed or not, and what it saw, in words a
person can act on. An AWS error fails only the check that met it. When the
function is deployed, its own environment is judged (what runs), not
config.json (what was meant to run).

The checks live beside what they check: configuration.py (the settings and
the groups they guard), trail.py, topic.py, functions.py (the two functions,
whose roles role.py judges against the adapters' declared permissions) and
rule.py; deployment.py looks up what they share.

A stage guarding more than its own account and region (SENTRY_ACCOUNTS,
SENTRY_REGIONS) is also checked account-region by account-region
(organization.py): its forwarding rule (forwarding.py), the member role
(member_role.py) and CloudTrail there, each account read through an audit
role (accounts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.config import ConfigError
from sentrycli.doctor.accounts import AUDIT_ROLE, guards_more
from sentrycli.doctor.configuration import check_configuration, check_groups
from sentrycli.doctor.deployment import Deployment, Judgement
from sentrycli.doctor.functions import check_function, check_sweep
from sentrycli.doctor.organization import Survey, survey
from sentrycli.doctor.rule import check_rule
from sentrycli.doctor.topic import check_topic
from sentrycli.doctor.trail import check_cloudtrail, logs_management_writes

__all__ = ["AUDIT_ROLE", "CHECKS", "TITLES", "Check", "Doctor", "Survey", "logs_management_writes"]

# Every check, in the order a newcomer would fix them.
CHECKS: tuple[tuple[str, Callable[[Deployment], Judgement]], ...] = (
    ("configuration", check_configuration),
    ("CloudTrail", check_cloudtrail),
    ("SNS topic", check_topic),
    ("guarded groups", check_groups),
    ("function and role", check_function),
    ("EventBridge rule", check_rule),
    ("sweep", check_sweep),
)
TITLES = tuple(title for title, _ in CHECKS)


@dataclass(frozen=True)
class Check:
    ok: bool
    title: str
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.title}: {self.detail}"


class Doctor(Deployment):
    def run(self) -> list[Check]:
        """Every check, in order; one that cannot be made fails alone, saying why."""
        checks = []
        for title, check in CHECKS:
            try:
                ok, detail = check(self)
                checks.append(Check(ok, title, detail))
            except ConfigError as error:
                checks.append(Check(False, title, f"cannot check with a bad configuration ({error})"))
            except (ClientError, BotoCoreError) as error:
                checks.append(Check(False, title, f"AWS answered {error}"))
        return checks

    def organization(self, audit_role: str = AUDIT_ROLE) -> Survey | None:
        """Each guarded account-region, when the stage guards more than its own; else None (nothing to add)."""
        try:
            if not guards_more(self.settings):
                return None
        except ConfigError:
            return None  # the configuration check says why
        return survey(self, audit_role)
