"""Recognising the sentry's own API calls, so it never reacts to what it did itself.

In Lambda a function calls AWS as ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION``.
The app has two functions, the event handler and the sweep, and both change
rules: each must recognise the other's calls as well as its own.

* Its own: the session name is the function's name, and the exact ARN is
  the one STS GetCallerIdentity gives (asked once per container). A person
  who names a session after the function cannot pass for it that way.
* Its sibling's: ``chalice deploy`` names each function APP-STAGE-HANDLER and
  gives it a role of the same name, which only Lambda may assume. So a
  session of role R named R, where R is the sibling's name, in the
  function's own account, is the sibling. Deployed through CloudFormation,
  names are generated: the merge template gives the handler the sweep's role
  ARN instead (``SENTRY_SWEEP_ROLE_ARN``), and any session of it is the sweep.

* In a member account of an organization's deployment (only then): the
  member role (``SENTRY_MEMBER_ROLE``), which trusts only the central
  functions' roles, in a session the sentry names (``sg-sentry-…``), in an
  account other than the deployment's own (where it never uses that role).
  The role's exact ARN is compared, so a role of another name or path
  cannot pass for it. A single account's deployment has no member session.

Anything else is judged like any other change; the check costs no AWS call
unless the session name already matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.accounts import SESSION_PREFIX
from chalicelib.domain.change import Actor

# Calls that need no IAM permission (GetCallerIdentity is always allowed).
PERMISSIONS_NOT_NEEDED = frozenset({"sts:GetCallerIdentity"})
# The app's handlers, as app.py names them: Chalice appends these to APP-STAGE-.
HANDLER_NAMES = ("on_security_group_change", "sweep", "sweep_worker")

_own_arns: dict[str, str] = {}


class OwnIdentity:
    def __init__(
        self,
        sts_client: Callable[[], Any],
        function_name: str | None,
        sweep_role_arn: str | None = None,
        member_role: str | None = None,
        home_account: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._sts = sts_client
        self._function = function_name
        self._sweep_role = sweep_role_arn
        # None: a single account's deployment, which never acts through a member role.
        self._member_role = member_role
        self._home = home_account

    def made(self, actor: Actor) -> bool:
        """True when `actor` is this function or its sibling in the same app."""
        if not actor.arn or ":assumed-role/" not in actor.arn:
            return False
        if self._sweep_role and actor.session_issuer_arn == self._sweep_role:
            return True
        if self._member_session(actor):
            return True
        if not self._function:
            return False
        role_part, _, session = actor.arn.rpartition("/")
        role = role_part.rpartition("/")[2]
        sibling = session in siblings(self._function) and role == session
        if session != self._function and not sibling:
            return False
        own = self._own_arn()
        if own is None:
            return False  # fail closed: unsure whether it is the sentry, judge the change like any other
        if session == self._function:
            return actor.arn == own
        return _account(actor.arn) == _account(own)

    def _member_session(self, actor: Actor) -> bool:
        assert actor.arn is not None
        if self._member_role is None:
            return False
        account = _account(actor.arn)
        partition = actor.arn.split(":")[1] if actor.arn.count(":") > 1 else "aws"
        session = actor.arn.rpartition("/")[2]
        role = f"arn:{partition}:iam::{account}:role/{self._member_role}"
        if actor.session_issuer_arn != role or not session.startswith(SESSION_PREFIX):
            return False
        home = self._home()  # asked only now: a session that looks like the sentry's is rare
        return home is not None and account != home  # unsure of home: fail closed, judge the change

    def _own_arn(self) -> str | None:
        assert self._function is not None
        if self._function not in _own_arns:
            try:
                _own_arns[self._function] = str(self._sts().get_caller_identity()["Arn"])
            except Exception:
                return None
        return _own_arns[self._function]


def siblings(function_name: str) -> frozenset[str]:
    """The app's other functions: ``sg-sentry-dev-sweep`` for ``sg-sentry-dev-on_security_group_change``.

    Chalice names functions APP-STAGE-HANDLER, and a handler name is a
    Python identifier, so it holds no '-'.
    """
    prefix, dash, handler = function_name.rpartition("-")
    if not dash or handler not in HANDLER_NAMES:
        return frozenset()  # not named by chalice deploy (CloudFormation, Terraform): no sibling is known
    return frozenset(f"{prefix}-{name}" for name in HANDLER_NAMES if name != handler)


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def forget() -> None:
    """Forget the cached identity (tests switch identities)."""
    _own_arns.clear()
