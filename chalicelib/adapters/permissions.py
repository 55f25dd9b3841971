"""Every IAM permission the deployed functions need: what each adapter declares, gathered in one place.

Read by the shipped policy's tests (.chalice/policy-<stage>.json grants
exactly these, rendered with wildcards), by the test that records every AWS
call the suite makes, and by `sentry doctor` (rendered for the account).
"""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.adapters.arns import ANY, LOG_GROUP, LOG_STREAM, Permission, Place
from chalicelib.adapters.baseline_table import BaselineTable
from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.ec2_interfaces import NetworkInterfaces
from chalicelib.adapters.ec2_prefix_lists import PrefixLists
from chalicelib.adapters.members import MemberSessions
from chalicelib.adapters.organizations import Organization
from chalicelib.adapters.sns import SnsNotifier
from chalicelib.adapters.sweep_rounds import SweepQueue, SweepRounds

__all__ = [
    "ANY",
    "CENTRAL",
    "CENTRAL_ACTIONS",
    "LAMBDA_LOGGING",
    "MEMBER",
    "MEMBER_ACTIONS",
    "OPERATOR",
    "REQUIRED",
    "REQUIRED_ACTIONS",
    "SNAPSHOT",
    "Permission",
    "Place",
    "resources",
]

# What Lambda itself needs to write the function's logs (no call of the app's own makes them).
LAMBDA_LOGGING = (
    Permission("logs:CreateLogGroup", LOG_GROUP),
    Permission("logs:CreateLogStream", LOG_STREAM),
    Permission("logs:PutLogEvents", LOG_STREAM),
)
REQUIRED: tuple[Permission, ...] = (
    *SecurityGroups.PERMISSIONS,
    *PrefixLists.PERMISSIONS,
    *NetworkInterfaces.PERMISSIONS,
    *SnsNotifier.PERMISSIONS,
    *LAMBDA_LOGGING,
)
# The action names alone.
REQUIRED_ACTIONS = frozenset(permission.action for permission in REQUIRED)

# An organization's deployment (docs/organization.md). In each member account, the member role: EC2 only.
MEMBER: tuple[Permission, ...] = (*SecurityGroups.PERMISSIONS, *PrefixLists.PERMISSIONS, *NetworkInterfaces.PERMISSIONS)
MEMBER_ACTIONS = frozenset(permission.action for permission in MEMBER)
# The central functions: all of the above in their own account, and the member role, the organization's
# account list, the table (the baseline; the sweep rounds' tallies) and the sweep's queue.
CENTRAL: tuple[Permission, ...] = (
    *REQUIRED,
    *MemberSessions.PERMISSIONS,
    *Organization.PERMISSIONS,
    *BaselineTable.PERMISSIONS,
    *(permission for permission in SweepRounds.PERMISSIONS if permission not in BaselineTable.PERMISSIONS),
    *SweepQueue.PERMISSIONS,
    *SweepQueue.WORKER_PERMISSIONS,
)
CENTRAL_ACTIONS = frozenset(permission.action for permission in CENTRAL)
# Not the functions': what `sentry snapshot` needs, with the operator's credentials, to write the table.
SNAPSHOT: tuple[Permission, ...] = BaselineTable.SNAPSHOT_PERMISSIONS
# Every write of the table an operator makes, never a function: `sentry snapshot`'s and `sentry allow`'s.
OPERATOR: tuple[Permission, ...] = (*SNAPSHOT, *BaselineTable.ALLOW_PERMISSIONS)


def resources(place: Place, permissions: Iterable[Permission] = REQUIRED) -> list[Permission]:
    """Each permission on each resource it means at `place`, in declaration order."""
    return [rendered for permission in permissions for rendered in permission.render(place)]
