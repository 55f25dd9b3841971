"""Every IAM action the deployed functions need: what each adapter declares, gathered in one place."""

from __future__ import annotations

from chalicelib.adapters.ec2 import SecurityGroups
from chalicelib.adapters.ec2_interfaces import NetworkInterfaces
from chalicelib.adapters.ec2_prefix_lists import PrefixLists
from chalicelib.adapters.sns import SnsNotifier

# What Lambda itself needs to write the function's logs.
LAMBDA_LOGGING = frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"})
# Every IAM action the deployed function needs: .chalice/policy-<stage>.json grants exactly these.
REQUIRED_PERMISSIONS = (
    SecurityGroups.PERMISSIONS
    | PrefixLists.PERMISSIONS
    | NetworkInterfaces.PERMISSIONS
    | SnsNotifier.PERMISSIONS
    | LAMBDA_LOGGING
)
