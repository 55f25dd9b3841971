"""The shapes of AWS's own identifiers, one pattern each, matched whole (`fullmatch`).

IDs are AWS's to choose: 8 hexadecimal digits, or 17 for resources made
since 2018. Anything else in such a field is forged or broken, and an ID
that reaches a `Describe*` filter must never carry the `*` or `?` that AWS
reads there as wildcards.
"""

from __future__ import annotations

import re

_HEX = r"[0-9a-f]{8}(?:[0-9a-f]{9})?"

GROUP_ID = re.compile(rf"sg-{_HEX}")
RULE_ID = re.compile(rf"sgr-{_HEX}")
PREFIX_LIST_ID = re.compile(rf"pl-{_HEX}")
INSTANCE_ID = re.compile(rf"i-{_HEX}")
INTERFACE_ID = re.compile(rf"eni-{_HEX}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
ACCOUNT_ID = re.compile(r"\d{12}")
# IAM's role names: 1 to 64 of these characters.
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
