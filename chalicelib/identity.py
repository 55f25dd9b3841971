"""Recognising the sentry's own API calls, so it never reacts to what it did itself.

In Lambda the function calls AWS as ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION``.
A record whose actor ARN does not end in the function's name is not the
sentry's, and costs nothing to rule out. Only when it does is the exact ARN
compared with the function's own identity (STS GetCallerIdentity, asked once
per container): a person who names a session after the function cannot
pass for the sentry that way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.events import Actor

# Calls that need no IAM permission (GetCallerIdentity is always allowed).
PERMISSIONS_NOT_NEEDED = frozenset({"sts:GetCallerIdentity"})

_own_arns: dict[str, str] = {}


class OwnIdentity:
    def __init__(self, sts_client: Callable[[], Any], function_name: str | None) -> None:
        self._sts = sts_client
        self._function = function_name

    def made(self, actor: Actor) -> bool:
        """True when `actor` is this function itself."""
        if not self._function or not actor.arn or ":assumed-role/" not in actor.arn:
            return False
        if not actor.arn.endswith("/" + self._function):
            return False
        if self._function not in _own_arns:
            try:
                _own_arns[self._function] = str(self._sts().get_caller_identity()["Arn"])
            except Exception:
                # Fail closed: unsure whether it is the sentry, judge the change like any other.
                return False
        return actor.arn == _own_arns[self._function]


def forget() -> None:
    """Forget the cached identity (tests switch identities)."""
    _own_arns.clear()
