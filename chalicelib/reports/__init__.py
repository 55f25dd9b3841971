"""The reports: the email text and the JSON document for any result, fitted to one SNS message.

`build_report` takes either result (`HandledChange` from an event,
`SweepResult` from the sweep or an event's check); `problem` holds the one
report of what could not be evaluated. Reports import only the domain.
"""

from __future__ import annotations

from chalicelib.domain.accounts import AccountLabel
from chalicelib.domain.outcome import HandledChange, SweepResult
from chalicelib.reports.change import build_change_report
from chalicelib.reports.fit import Report

__all__ = ["Report", "build_report"]


def build_report(result: HandledChange | SweepResult, account: AccountLabel | None = None) -> Report:
    """The report of either result; `account` names where, when the deployment guards more than its own."""
    if isinstance(result, HandledChange):
        return build_change_report(result, account)
    # Imported here, so the event function's cold start does not load the sweep's report.
    from chalicelib.reports.judgement import build_sweep_report

    return build_sweep_report(result, account)
