"""The sweep: read every guarded group's rules at once and put right what no event reported.

EventBridge delivers CloudTrail events on a best-effort basis, and rules
added before the sentry was deployed (or while it was failing) never reach
the event handler. The sweep judges what is there now, with the same policy:

* internet mode: every rule that opens a group to the internet is revoked;
* lockdown mode with a baseline: the group is brought back to exactly it;
* lockdown mode without a baseline: the group is not judged (every rule is
  "a change" only when an event says when it was made), and the summary
  says so.

Reads are one paginated listing of the groups with their rules (and, in
lockdown mode, one more call per 200 held groups where a rule may have been
modified in place, for the rule IDs a redefinition needs); writes are one
call per violating group and direction; the check afterwards reads, again
all at once, only the groups with changes EC2's answers did not name. One
message per sweep that found something; silence when all is well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import baseline
from chalicelib.baseline import Baseline, BaselineError
from chalicelib.config import ConfigError, Settings
from chalicelib.drift import Fix, Step, plan
from chalicelib.ec2 import SecurityGroups, describe_error
from chalicelib.logs import DecisionLog
from chalicelib.outcome import FAILURES, RuleOutcome, summary_word
from chalicelib.policy import Mode
from chalicelib.remedy import carry_out, unverified, verified
from chalicelib.report import plural, rule_document
from chalicelib.services import Aws, BotoAws, publish
from chalicelib.sweep_report import build_sweep_report, sweep_problem_report


class SweepFailed(RuntimeError):
    """The sweep could not put at least one rule right; raised so the invocation counts as an error."""


@dataclass(frozen=True)
class SweptGroup:
    group_id: str
    name: str | None
    rules: tuple[RuleOutcome, ...]
    # How many rules the group's baseline approves; None when it has none.
    baseline_rules: int | None = None


@dataclass(frozen=True)
class SweepResult:
    region: str
    time: str
    mode: str
    dry_run: bool
    groups_checked: int
    rules_checked: int
    # Groups where something was (or would be) done, or failed.
    drifted: tuple[SweptGroup, ...] = ()
    # Groups in lockdown mode without a baseline: the sweep cannot judge them.
    unjudged: tuple[str, ...] = ()

    @property
    def outcomes(self) -> tuple[RuleOutcome, ...]:
        return tuple(item for group in self.drifted for item in group.rules)

    @property
    def failures(self) -> tuple[RuleOutcome, ...]:
        return tuple(item for item in self.outcomes if item.outcome in FAILURES)

    @property
    def summary(self) -> str:
        return summary_word(self.outcomes) or "clean"

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in self.outcomes:
            counts[item.outcome.value] = counts.get(item.outcome.value, 0) + 1
        return {
            "outcome": self.summary,
            "region": self.region,
            "groups_checked": self.groups_checked,
            "rules_checked": self.rules_checked,
            "groups_drifted": len(self.drifted),
            "groups_not_judged": len(self.unjudged),
            "rules": counts,
        }


def sweep(
    env: Mapping[str, str] | None = None,
    services: Aws | None = None,
    log: DecisionLog | None = None,
    region: str | None = None,
    approved: Baseline | None = None,
) -> SweepResult:
    """Sweep the guarded groups of one region (the function's own, by default).

    `approved` is the baseline to hold groups to; by default the deployed one
    (`sentry sweep` passes the project's).

    Raises `ConfigError` or `BaselineError` for bad settings, the AWS error
    when the groups cannot be read, `SweepFailed` when a rule could not be
    put right and `NotificationFailed` when SNS failed: each is logged first.
    """
    env = os.environ if env is None else env
    services = services or BotoAws()
    log = log or DecisionLog()
    try:
        settings = Settings.from_env(env)
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError("the sweep needs a region: AWS_REGION is not set")
        if settings.policy.mode is not Mode.LOCKDOWN:
            approved = Baseline()  # internet mode does not use one
        elif approved is None:
            approved = baseline.load(settings.baseline_path)
    except (ConfigError, BaselineError) as error:
        log.write("ERROR", str(error), "config-error")
        raise
    started = datetime.now(UTC).isoformat(timespec="seconds")
    context = {"event_name": "sweep", "dry_run": settings.dry_run}
    if not settings.scope.guards_anything:
        log.write("WARNING", "no security group is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG", "ignored")
        return SweepResult(region, started, settings.policy.mode.value, settings.dry_run, 0, 0)

    ec2 = services.security_groups(region)
    try:
        listed = ec2.guarded_groups_with_rules(settings.scope)
        groups = sorted((info for info, _ in listed), key=lambda info: info.group_id)
        rules = {info.group_id: found for info, found in listed}
        entries = {group.group_id: approved.for_group(group.group_id, region) for group in groups}
        steps = {group_id: plan(rules[group_id], settings.policy, entry) for group_id, entry in entries.items()}
        # That read lists rules without their IDs: enough to revoke by definition and to restore. Where
        # a rule may have been modified in place, the group is read again with them, to redefine it.
        modified = [group_id for group_id, planned in steps.items() if planned and _may_redefine(planned)]
        if modified:
            rules.update(ec2.rules_by_group(modified))
            for group_id in modified:
                steps[group_id] = plan(rules[group_id], settings.policy, entries[group_id])
    except (ClientError, BotoCoreError, ValueError, KeyError) as error:
        problem = f"the sweep could not read the guarded groups or their rules: {describe_error(error)}"
        log.write("ERROR", problem, "failed", **context)
        publish(sweep_problem_report(problem, region), settings, services, log, context)
        raise

    drifted: list[SweptGroup] = []
    unjudged: list[str] = []
    for group in groups:
        planned = steps[group.group_id]
        if planned is None:
            unjudged.append(group.group_id)
        elif planned:
            outcomes = carry_out(planned, group.group_id, ec2, settings.dry_run, verify=False)
            entry = entries[group.group_id]
            count = len(entry.rules) if entry is not None else None
            drifted.append(SweptGroup(group.group_id, group.name, tuple(outcomes), count))
    drifted = _verify(drifted, ec2)

    result = SweepResult(
        region=region,
        time=started,
        mode=settings.policy.mode.value,
        dry_run=settings.dry_run,
        groups_checked=len(groups),
        rules_checked=sum(len(found) for group_id, found in rules.items() if group_id not in unjudged),
        drifted=tuple(drifted),
        unjudged=tuple(unjudged),
    )
    for swept in result.drifted:
        level = "ERROR" if any(item.outcome in FAILURES for item in swept.rules) else "INFO"
        documents = [rule_document(item) for item in swept.rules]
        word = summary_word(swept.rules) or "clean"
        message = f"sweep: {word} on {swept.group_id}"
        log.write(level, message, word, group_id=swept.group_id, rules=documents, **context)
    said = (
        f"sweep of {region}: {plural(result.groups_checked, 'group')}, {plural(result.rules_checked, 'rule')}, "
        f"{len(result.drifted)} drifted, {len(result.unjudged)} not judged (lockdown without a baseline)"
    )
    level = "ERROR" if result.failures else "WARNING" if result.unjudged else "INFO"
    log.write(level, said, f"sweep-{result.summary}", **context)
    if result.drifted:
        failure = publish(build_sweep_report(result), settings, services, log, context)
        if failure is not None and not result.failures:
            raise failure
    if result.failures:
        raise SweepFailed(f"the sweep of {region} could not put right {len(result.failures)} rule(s); see the log")
    return result


def _may_redefine(steps: tuple[Step, ...]) -> bool:
    """Whether rule IDs could turn part of this plan into a redefinition in place.

    Only a missing approved rule that has an ID, and a rule to revoke of the
    same direction and kind of source, can be one rule modified in place.
    """
    missing = {(s.rule.direction, s.rule.source.kind) for s in steps if s.fix is Fix.RESTORE and s.rule.rule_id}
    return any(s.fix is Fix.REVOKE and (s.rule.direction, s.rule.source.kind) in missing for s in steps)


def _verify(drifted: list[SweptGroup], ec2: SecurityGroups) -> list[SweptGroup]:
    """Read the groups with unproven changes again, all at once, and check those changes."""
    changed = [group.group_id for group in drifted if any(item.unproven for item in group.rules)]
    if not changed:
        return drifted
    try:
        present = ec2.rules_by_group(changed)
    except Exception as error:  # the changes stand; only the proof is missing, and the report says so
        return [
            SweptGroup(g.group_id, g.name, tuple(unverified(i, error) for i in g.rules), g.baseline_rules)
            for g in drifted
        ]
    return [
        SweptGroup(
            group.group_id,
            group.name,
            tuple(verified(group.rules, present.get(group.group_id, []))),
            group.baseline_rules,
        )
        for group in drifted
    ]
