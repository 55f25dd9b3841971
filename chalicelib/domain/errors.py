"""The project's own errors: what the use cases raise, and what the adapters turn AWS's errors into.

The use cases never see botocore: an adapter that cannot read raises
`AwsError` (AWS's code and message kept), and one that cannot write returns
the failure as a value (a `RevokeResult`, an error string) so that no rule
is lost from the report.
"""

from __future__ import annotations


class AwsError(RuntimeError):
    """AWS refused or could not be reached, after botocore's retries; says "Code: message"."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        # AWS's error code ("UnauthorizedOperation"), or None when AWS was not reached at all.
        self.code = code


class NotificationFailed(RuntimeError):
    """SNS refused or could not be reached, after botocore's retries."""


class RevertFailed(RuntimeError):
    """A forbidden rule could not be revoked, or an approved one restored; raised so Lambda retries and alarms."""


class SweepFailed(RuntimeError):
    """The sweep could not put at least one rule right; raised so the invocation counts as an error."""


class ListStillChanging(RuntimeError):
    """A prefix list an event changed is still being modified: Lambda retries the event, to judge its new entries."""


def describe(error: BaseException) -> str:
    """An error in one line for a report or a log: AWS's "Code: message", or the exception's type and text."""
    if isinstance(error, AwsError):
        return str(error)
    return f"{type(error).__name__}: {error}"
