"""A sweep round over every guarded account and region: in this process, or fanned out through SQS.

The schedule starts a round. A single account in its own region is swept
exactly as before (`sweep`). An organization's round covers every guarded
account in every region of `SENTRY_REGIONS`:

* with `SENTRY_SWEEP_QUEUE`, the round is opened in the table (its tally)
  and one message per place is queued; a worker (`sweep_message`, one place
  per invocation, so none nears Lambda's 15 minutes) sweeps it in that
  account through the member role, keeps what it found under the round and
  counts the round down; the worker that ends the round sends its one
  summary. A place that keeps failing is counted on its last attempt (and
  goes, by the queue's redrive policy, to the dead-letter queue);
* without a queue (and in `sentry sweep`), each place in turn, here.

Each place is judged as the single-account sweep judges (`judge`), quietly:
the round, not each place, sends the message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.log import DecisionLog, Level
from chalicelib.domain.accounts import Place, guarded_accounts, places
from chalicelib.domain.baseline import Baseline, BaselineError
from chalicelib.domain.config import ConfigError
from chalicelib.domain.errors import AwsError, SweepFailed, describe
from chalicelib.domain.metrics import COULD_NOT_EVALUATE
from chalicelib.domain.outcome import Summary
from chalicelib.domain.ports import Aws, SweepRoundsPort
from chalicelib.domain.selection import EVERYTHING
from chalicelib.domain.sweep_round import PlaceFindings, RoundResult
from chalicelib.reports import build_report
from chalicelib.reports.sweep_round import build_round_report
from chalicelib.usecases.judge import judge
from chalicelib.usecases.pipeline import Invocation, failed_words, log_judgement, start
from chalicelib.usecases.sweep import sweep

__all__ = ["ATTEMPTS", "round_places", "scheduled_round", "sweep_message", "sweep_round"]

# The queue's redrive policy moves a message to the dead-letter queue after this many receives (central template).
ATTEMPTS = 3


def scheduled_round(
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    home: str | None = None,
) -> dict[str, Any]:
    """The schedule's work: one place swept as before, else a round here or through the queue.

    `home`: the deployment's account, when Lambda's context named it (the metrics' Account).
    """
    run = start(env, services, log, home)
    settings = run.settings
    if settings.accounts.home_only and not settings.regions and settings.sweep_queue is None:
        return sweep(env, services, log, home=home).as_dict()
    if settings.sweep_queue is None:
        return sweep_round(env, services, log, home=home).as_dict()
    return _queue_round(run)


def sweep_round(
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    region: str | None = None,
    approved: Baseline | None = None,
    only_accounts: Collection[str] = (),
    only_regions: Collection[str] = (),
    raises: bool = True,
    home: str | None = None,
) -> RoundResult:
    """Sweep every guarded place (or those of `only_*`) here, in turn; one summary. Raises `SweepFailed` if any failed.

    `approved` holds the deployment's own account to that baseline (`sentry sweep` passes the project's file);
    `raises` False returns a failed round instead (the CLI prints it, then exits 1).
    """
    run = start(env, services, log, home)
    round_id = _round_id()
    run = run.about(event_name="sweep", round=round_id, dry_run=run.settings.dry_run)
    found = tuple(
        _sweep_place(run, place, round_id, approved) for place in round_places(run, region, only_accounts, only_regions)
    )
    result = RoundResult(round_id, run.settings.dry_run, found)
    _finish_round(run, result, raises)
    return result


def sweep_message(
    body: str,
    attempt: int = 1,
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    home: str | None = None,
) -> PlaceFindings | None:
    """A worker's work: sweep the one place the message names, count it done, and end the round if it was the last.

    Raises (so SQS delivers the message again) when the place could not be
    swept, counting it done only on the last attempt; a message that is not
    the sentry's is logged and dropped: retrying cannot make it readable.
    """
    run = start(env, services, log, home)
    try:
        message = json.loads(body)
        round_id, place = str(message["round"]), Place.parse(message["place"])
    except (TypeError, ValueError, KeyError) as error:
        run.say(Level.ERROR, f"ignored a sweep message it cannot read: {error}", Summary.NOT_UNDERSTOOD)
        return None
    run = run.about(event_name="sweep", round=round_id, place=str(place), attempt=attempt, dry_run=run.settings.dry_run)
    findings = _sweep_place(run, place, round_id)
    if findings.failed and attempt < ATTEMPTS:
        raise SweepFailed(f"{place}: {findings.problem or findings.subject}; attempt {attempt} of {ATTEMPTS}")
    rounds = run.services.sweep_rounds(_table(run))
    left = rounds.record(round_id, place, findings.as_dict())
    if left == 0:
        every = tuple(PlaceFindings.from_dict(d) for _, d in sorted(rounds.findings(round_id).items()))
        _finish_round(run, RoundResult(round_id, run.settings.dry_run, every), raises=False)
    if findings.failed:
        raise SweepFailed(f"{place}: {findings.problem or findings.subject}; the last attempt")
    return findings


def round_places(
    run: Invocation, region: str | None = None, only_accounts: Collection[str] = (), only_regions: Collection[str] = ()
) -> tuple[Place, ...]:
    """Every guarded account in every region the sweep covers, narrowed to `only_*`. Raises `ConfigError`."""
    settings = run.settings
    home_region = region or run.env.get("AWS_REGION") or run.env.get("AWS_DEFAULT_REGION")
    if not home_region:
        raise ConfigError("the sweep needs a region: AWS_REGION is not set")
    try:
        home = run.home_account()
        organization = run.services.organization().active_accounts() if settings.accounts.organization else {}
    except AwsError as error:
        run.say(Level.ERROR, f"could not list the accounts to sweep: {describe(error)}", Summary.FAILED)
        raise
    accounts = guarded_accounts(settings.accounts, home, organization)
    regions = frozenset(settings.regions or (home_region,))
    unknown = [f"account {a}" for a in sorted(set(only_accounts) - accounts)]
    unknown += [f"region {r}" for r in sorted(set(only_regions) - regions)]
    if unknown:
        raise ConfigError(f"not swept by this deployment: {', '.join(unknown)} (see SENTRY_ACCOUNTS, SENTRY_REGIONS)")
    return places(set(only_accounts) or accounts, set(only_regions) or regions)


def _sweep_place(run: Invocation, place: Place, round_id: str, approved: Baseline | None = None) -> PlaceFindings:
    """One place judged quietly (the round sends the message), as its findings; never raises for AWS."""
    quiet = run.quiet().about(place=str(place))
    judging = False
    try:
        acting = quiet.acting_in(place.account, f"sweep-{round_id}")
        if not isinstance(acting, Invocation):  # left the organization since the round began
            return PlaceFindings(place, place.account, Summary.NOT_GUARDED, failed=False, found=False)
        if approved is None or acting.account not in (None, acting.home_account()):
            approved = acting.baselines().region(place.account, place.region)
        judging = True
        result = judge(acting, approved, place.region, EVERYTHING)
    except Exception as error:  # whatever it was, the place is counted (failed) and the round still ends
        problem = f"could not sweep {place}: {error if isinstance(error, BaselineError) else describe(error)}"
        # Failed is counted once: what `judge` could not read, its own line counted; the rest, this one.
        metrics = None if judging else quiet.metrics(COULD_NOT_EVALUATE, account=place.account)
        quiet.say(Level.ERROR, problem, Summary.FAILED, metrics=metrics)
        return PlaceFindings(place, place.account, Summary.FAILED, failed=True, found=False, problem=problem)
    log_judgement(acting, result)
    label = acting.account_label()
    report = build_report(result, label or None) if result.worth_reporting else None
    return PlaceFindings(
        place,
        label=str(label or place.account),
        summary=result.summary,
        failed=result.failed,
        found=result.found_something,
        groups_checked=result.groups_checked,
        subject=report.subject if report else "",
        text=report.text if report else "",
        problem=failed_words(result) if result.failed else None,
    )


def _queue_round(run: Invocation) -> dict[str, Any]:
    """Close the last round if it is still open, open a new one and queue one message per place."""
    round_id = _round_id()
    run = run.about(event_name="sweep", round=round_id)
    every = round_places(run)
    rounds = run.services.sweep_rounds(_table(run))
    try:
        _close_stale_round(run, rounds)
        rounds.open(round_id, every)
        sent = run.services.sweep_queue(str(run.settings.sweep_queue)).send(round_id, every)
    except AwsError as error:
        run.say(Level.ERROR, f"could not start sweep round {round_id}: {describe(error)}", Summary.FAILED)
        raise
    run.say(Level.INFO, f"sweep round {round_id}: queued {sent} account-regions", "queued", places=sent)
    return {"outcome": "queued", "round": round_id, "places": sent}


def _close_stale_round(run: Invocation, rounds: SweepRoundsPort) -> None:
    """A round whose workers did not all report (one timed out, a message went to the dead-letter queue) ends now,
    with what it found and the places that never reported, so that no round passes without its summary."""
    stale = rounds.latest()
    missing = rounds.close(stale) if stale else None
    if stale is None or missing is None:
        return
    never = (
        f"never reported by round {stale}'s end, the next round: its worker timed out or failed, "
        "or its message is in the dead-letter queue"
    )
    found = [PlaceFindings.from_dict(d) for _, d in sorted(rounds.findings(stale).items())]
    found += [PlaceFindings(p, p.account, Summary.FAILED, failed=True, found=False, problem=never) for p in missing]
    stale_run = run.about(round=stale)
    stale_run.say(Level.ERROR, f"sweep round {stale} closed with {len(missing)} places unreported", Summary.FAILED)
    _finish_round(stale_run, RoundResult(stale, run.settings.dry_run, tuple(found)), raises=False)


def _finish_round(run: Invocation, result: RoundResult, raises: bool) -> None:
    failed = [str(place.place) for place in result.places if place.failed]
    level = Level.ERROR if failed else Level.INFO
    reported = len(result.reported)
    said = f"sweep round {result.round_id}: {len(result.places)} account-regions, {reported} found something"
    run.say(level, said + (f", failed in {', '.join(failed)}" if failed else ""), f"sweep-{result.summary}")
    published = run.publish(build_round_report(result)) if result.reported else None
    if not raises:
        # A worker: SQS would deliver its message again, but the round is counted and would not end again.
        # The CLI: it prints the round and exits 1.
        return
    if failed:
        raise SweepFailed(f"the sweep failed in {', '.join(failed)}; see the log")
    if published is not None:
        raise published


def _table(run: Invocation) -> str:
    assert run.settings.baseline_table is not None  # Settings refuse a queue without a table
    return run.settings.baseline_table


def _round_id() -> str:
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
