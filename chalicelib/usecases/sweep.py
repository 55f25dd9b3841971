"""The scheduled sweep, as one pipeline: read every guarded group of a region, plan, carry out, report.

EventBridge delivers CloudTrail events on a best-effort basis, and rules
added before the sentry was deployed (or while it was failing) never reach
the event handler; the sweep judges what is there now, with the same
judgement an event's check uses (`judge`). One message per sweep that found
something; silence when all is well.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from chalicelib.adapters.log import DecisionLog, Level
from chalicelib.domain.baseline import Baseline, BaselineError
from chalicelib.domain.config import ConfigError
from chalicelib.domain.errors import AwsError, SweepFailed
from chalicelib.domain.outcome import Summary, SweepResult
from chalicelib.domain.ports import Aws
from chalicelib.domain.selection import EVERYTHING
from chalicelib.usecases.judge import judge
from chalicelib.usecases.pipeline import finish, start

__all__ = ["sweep"]


def sweep(
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    region: str | None = None,
    approved: Baseline | None = None,
    home: str | None = None,
) -> SweepResult:
    """Sweep the guarded groups of one region (the function's own, by default).

    `approved` is the baseline to hold groups to; by default the deployed one
    (`sentry sweep` passes the project's).

    Raises `ConfigError` or `BaselineError` for bad settings, `AwsError`
    when the groups cannot be read, `SweepFailed` when a rule could not be
    put right and `NotificationFailed` when SNS failed: each is logged first.
    """
    run = start(env, services, log, home)
    try:
        region = region or run.env.get("AWS_REGION") or run.env.get("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError("the sweep needs a region: AWS_REGION is not set")
        approved = run.baselines().region(None, region) if approved is None else approved
    except (ConfigError, BaselineError, AwsError) as error:
        run.say(Level.ERROR, str(error), Summary.CONFIG_ERROR)
        raise
    if run.guards_nothing() is not None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return SweepResult(region, now, run.settings.policy.mode, run.settings.dry_run, 0, 0)
    run = run.about(event_name="sweep", dry_run=run.settings.dry_run)
    result = judge(run, approved, region, EVERYTHING)
    finish(run, result, SweepFailed)
    return result
