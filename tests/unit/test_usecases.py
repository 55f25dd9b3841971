"""The use cases' branches, each against in-memory ports (tests/fakes.py): what AWS holds, said and sent.

One test per branch of the event pipeline and the sweep. The functional
tests (moto) prove the same paths end to end; these make each branch cheap
enough to test on its own, and say how many calls it made.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from chalicelib.adapters.log import DecisionLog
from chalicelib.domain.baseline import ApprovedGroup, Baseline
from chalicelib.domain.config import ConfigError
from chalicelib.domain.errors import AwsError, NotificationFailed, RevertFailed, SweepFailed
from chalicelib.domain.outcome import HandledChange, Outcome, PassedOver, Summary, SweepResult
from chalicelib.domain.policy import Mode
from chalicelib.usecases.handle_event import handle_event
from chalicelib.usecases.sweep import sweep
from localaws.cloudtrail import eventbridge, record
from tests.fakes import FakeAws, ingress, security_group_rule

REGION = "eu-west-1"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:sg-sentry-alerts"
SSH_WORLD = ingress("tcp", 22, "0.0.0.0/0")
SSH_INSIDE = ingress("tcp", 22, "10.0.0.0/8")
HTTPS_WORLD = ingress("tcp", 443, "0.0.0.0/0")


class Run:
    """A fake world, the settings of one stage, and what the use case logged."""

    def __init__(self, **env: str) -> None:
        self.aws = FakeAws()
        self.out = io.StringIO()
        self.group = self.aws.ec2.add_group("web-prod")
        self.env = {"AWS_REGION": REGION, "SENTRY_GROUP_IDS": self.group, "SENTRY_TOPIC_ARN": TOPIC}
        self.env |= {"SENTRY_MODE": "internet", **env}

    def opened(self, rule: Any = SSH_WORLD, group: str | None = None, **record_fields: Any) -> dict[str, Any]:
        """Open `rule` on the group (as the API call did) and return the event CloudTrail would deliver."""
        group = group or self.group
        held = self.aws.ec2.add_rule(group, rule)
        permission = {"IpProtocol": rule.protocol, "FromPort": rule.from_port, "ToPort": rule.to_port}
        permission["IpRanges"] = [{"CidrIp": rule.source.value}]
        params = {"GroupId": group, "IpPermissions": [permission]}
        created = [security_group_rule(group, held)]
        return eventbridge(record("AuthorizeSecurityGroupIngress", params, created, region=REGION, **record_fields))

    def handle(self, event: Any) -> HandledChange | SweepResult | PassedOver:
        return handle_event(event, env=self.env, services=self.aws, log=DecisionLog(self.out))

    def sweep(self, approved: Baseline | None = None) -> SweepResult:
        return sweep(env=self.env, services=self.aws, log=DecisionLog(self.out), approved=approved or Baseline())

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def passed_over(self, event: Any) -> str:
        """Handle an event the sentry does not act on: the word of its answer, which must be its log's first."""
        handled = self.handle(event)
        assert isinstance(handled, PassedOver) and handled.as_dict()["outcome"] == self.said[0]
        return handled.summary

    @property
    def said(self) -> list[str]:
        return [line["outcome"] for line in self.lines]

    @property
    def subjects(self) -> list[str]:
        return [report.subject for report in self.aws.sns.published]


# The event pipeline.


def test_ssh_opened_to_the_world_is_revoked_and_reported() -> None:
    run = Run()
    handled = run.handle(run.opened())
    assert run.aws.ec2.rules_of(run.group) == []
    assert isinstance(handled, HandledChange) and handled.summary is Summary.REVERTED
    assert run.subjects == [f"sg-sentry: reverted 1 rule on {run.group} (web-prod)"]
    assert run.said == ["reverted", "notified"]
    # The revoke is the first call; the answer named the rule, so nothing is read to prove it.
    assert run.aws.ec2.calls == {"RevokeSecurityGroupIngress": 1, "DescribeSecurityGroups": 1}


def test_a_dry_run_changes_nothing_and_says_what_it_would_do() -> None:
    run = Run(SENTRY_DRY_RUN="true")
    run.handle(run.opened())
    assert [str(rule) for rule in run.aws.ec2.rules_of(run.group)] == [str(SSH_WORLD)]
    assert run.subjects == [f"sg-sentry [dry run]: would revert 1 rule on {run.group} (web-prod)"]
    assert run.aws.ec2.writes == 0


def test_an_internal_source_is_allowed_and_stays() -> None:
    run = Run()
    handled = run.handle(run.opened(SSH_INSIDE))
    assert [str(rule) for rule in run.aws.ec2.rules_of(run.group)] == [str(SSH_INSIDE)]
    assert isinstance(handled, HandledChange) and handled.summary is Summary.ALLOWED
    assert run.subjects == [f"sg-sentry: allowed 1 rule on {run.group} (web-prod)"]


def test_a_group_nobody_guards_is_left_alone() -> None:
    run = Run()
    other = run.aws.ec2.add_group("scratch")
    assert run.passed_over(run.opened(group=other))
    assert len(run.aws.ec2.rules_of(other)) == 1
    # And, as it opens the group to the world, a look for guarded workloads it sits beside: none.
    assert run.said == ["not-guarded", "clean"]
    assert run.subjects == []


def test_nothing_guarded_is_said_and_nothing_is_read() -> None:
    run = Run(SENTRY_GROUP_IDS="")
    assert run.passed_over(run.opened()) == "nothing-guarded"
    assert run.said == ["nothing-guarded"]
    assert run.aws.ec2.calls == {}


def test_bad_settings_are_refused_before_anything_is_read() -> None:
    run = Run(SENTRY_MODE="paranoid")
    with pytest.raises(ConfigError, match="SENTRY_MODE"):
        run.handle(run.opened())
    assert run.said == ["config-error"]
    assert len(run.aws.ec2.rules_of(run.group)) == 1


def test_an_event_of_another_kind_is_out_of_scope() -> None:
    run = Run()
    event = eventbridge(record("DescribeInstances", {}, region=REGION))
    assert run.passed_over(event)
    assert run.said == ["out-of-scope"]


def test_an_unreadable_event_is_reported_and_a_failed_report_raised() -> None:
    run = Run()
    event = run.opened()
    event["detail"]["awsRegion"] = "not a region"
    assert run.passed_over(event)
    assert run.said == ["not-understood", "notified"]
    assert run.subjects == ["sg-sentry: could not evaluate a security-group change"]
    run.aws.sns.failure = "AuthorizationError: no"
    with pytest.raises(NotificationFailed):
        run.handle(event)


def test_a_failed_call_changed_nothing_so_there_is_nothing_to_do() -> None:
    run = Run()
    event = run.opened(error=("UnauthorizedOperation", "no"))
    assert run.passed_over(event) == "nothing-to-do"
    assert run.said == ["nothing-to-do"]
    assert len(run.aws.ec2.rules_of(run.group)) == 1


def test_the_sentrys_own_change_never_starts_another_round() -> None:
    run = Run()
    event = run.opened()
    run.aws.identity.own_arn = event["detail"]["userIdentity"]["arn"]
    assert run.passed_over(event)
    assert run.said == ["own-change"]
    assert len(run.aws.ec2.rules_of(run.group)) == 1


def test_a_revoke_in_internet_mode_needs_no_look() -> None:
    run = Run()
    params = {"GroupId": run.group, "SecurityGroupRuleIds": ["sgr-00000000000000001"]}
    assert run.passed_over(eventbridge(record("RevokeSecurityGroupIngress", params, [], region=REGION)))
    assert run.said == ["nothing-to-do"]
    assert run.aws.ec2.calls == {}


def test_a_revoke_that_fails_is_reported_and_raised() -> None:
    run = Run()
    run.aws.ec2.faults["RevokeSecurityGroupIngress"] = "UnauthorizedOperation: not allowed"
    with pytest.raises(RevertFailed, match="could not revert or restore 1 rule"):
        run.handle(run.opened())
    assert len(run.aws.ec2.rules_of(run.group)) == 1
    assert run.subjects == [f"sg-sentry: FAILED to revert 1 rule on {run.group} (web-prod)"]
    assert run.said == ["failed", "notified"]


def test_a_revert_whose_report_fails_raises_the_report_failure() -> None:
    run = Run()
    run.aws.sns.failure = "AuthorizationError: no"
    with pytest.raises(NotificationFailed):
        run.handle(run.opened())
    assert run.aws.ec2.rules_of(run.group) == []
    assert run.said == ["reverted", "notification-failed"]


def test_a_lookup_that_fails_is_reported_and_raised() -> None:
    run = Run(SENTRY_GROUP_IDS="", SENTRY_GROUP_TAG="guard=on")
    run.aws.ec2.faults["DescribeSecurityGroups"] = "UnauthorizedOperation: not allowed"
    with pytest.raises(AwsError, match="UnauthorizedOperation"):
        run.handle(run.opened())
    assert run.said == ["failed", "notified"]
    assert run.subjects == [f"sg-sentry: could not evaluate AuthorizeSecurityGroupIngress on {run.group}"]


def test_by_tag_a_cached_not_guarded_never_decides() -> None:
    run = Run(SENTRY_GROUP_IDS="", SENTRY_GROUP_TAG="guard=on")
    run.aws.ec2.describe_group(run.group)  # cached while untagged
    run.aws.ec2.set_tags(run.group, {"guard": "on"})
    run.handle(run.opened())
    assert run.aws.ec2.rules_of(run.group) == []


# The sweep.


def test_a_clean_sweep_sends_nothing() -> None:
    run = Run()
    run.aws.ec2.add_rule(run.group, SSH_INSIDE)
    result = run.sweep()
    assert result.summary is Summary.CLEAN and result.groups_checked == 1
    assert run.subjects == []
    assert run.said == ["sweep-clean"]


def test_the_sweep_revokes_what_no_event_reported_and_sends_one_message() -> None:
    run = Run()
    run.aws.ec2.add_rule(run.group, SSH_WORLD)
    run.aws.ec2.add_rule(run.group, SSH_INSIDE)
    result = run.sweep()
    assert [str(rule) for rule in run.aws.ec2.rules_of(run.group)] == [str(SSH_INSIDE)]
    assert result.mode is Mode.INTERNET and [g.group_id for g in result.drifted] == [run.group]
    assert run.subjects == [f"sg-sentry sweep: reverted 1 rule on 1 group in {REGION}"]
    assert run.said == ["reverted", "sweep-reverted", "notified"]


def test_a_sweep_that_cannot_read_reports_and_raises() -> None:
    run = Run()
    run.aws.ec2.faults["DescribeSecurityGroups"] = "RequestLimitExceeded: slow down"
    with pytest.raises(AwsError, match="RequestLimitExceeded"):
        run.sweep()
    assert run.subjects == [f"sg-sentry sweep: could not read the groups in {REGION}"]


def test_a_sweep_that_cannot_revoke_fails_after_reporting() -> None:
    run = Run()
    run.aws.ec2.add_rule(run.group, SSH_WORLD)
    run.aws.ec2.faults["RevokeSecurityGroupIngress"] = "UnauthorizedOperation: not allowed"
    with pytest.raises(SweepFailed, match="could not put right 1 rule"):
        run.sweep()
    assert run.subjects == [f"sg-sentry sweep: FAILED to revert 1 rule on 1 group in {REGION}"]


def test_lockdown_puts_the_group_back_to_its_baseline() -> None:
    run = Run(SENTRY_MODE="lockdown")
    approved = run.aws.ec2.add_rule(run.group, SSH_INSIDE)
    baseline = Baseline({run.group: ApprovedGroup(run.group, REGION, "web-prod", (approved,))})
    run.aws.ec2.groups[run.group].rules = [run.aws.ec2.add_rule(run.group, HTTPS_WORLD)]
    result = run.sweep(baseline)
    assert [str(rule) for rule in run.aws.ec2.rules_of(run.group)] == [str(SSH_INSIDE)]
    (group,) = result.drifted
    assert sorted(item.outcome for item in group.rules) == [Outcome.RESTORED, Outcome.REVERTED]
    assert group.baseline_rules == 1 and group.mode is Mode.LOCKDOWN


def test_a_sweep_with_nothing_guarded_reads_nothing() -> None:
    run = Run(SENTRY_GROUP_IDS="")
    result = run.sweep()
    assert result.groups_checked == 0 and run.said == ["nothing-guarded"]
    assert run.aws.ec2.calls == {}


def test_a_check_that_cannot_read_says_so_of_every_unproven_outcome() -> None:
    # What EC2 said it did stands, but nothing proves it: each outcome, readable rule or not, says so.
    from chalicelib.domain.outcome import GroupOutcome, RuleOutcome, UnreadableOutcome
    from chalicelib.domain.rules import Direction, UnreadableRule
    from chalicelib.usecases.remedy import check

    run = Run()
    run.aws.ec2.faults["DescribeSecurityGroupRules"] = "RequestLimitExceeded: slow down"
    unreadable = UnreadableRule(Direction.INGRESS, "tcp -1", "no ports", "sgr-00000000000000009")
    group = GroupOutcome(
        run.group,
        "web-prod",
        Mode.LOCKDOWN,
        False,
        (RuleOutcome(SSH_WORLD, Outcome.REVERTED, "lockdown"),),
        unreadable=(UnreadableOutcome(unreadable, Outcome.REVERTED, "lockdown"),),
    )
    (checked,) = check([group], run.aws.ec2)
    assert [item.outcome for item in checked.outcomes] == [Outcome.REVERTED, Outcome.REVERTED]
    assert all("the check afterwards failed: RequestLimitExceeded" in item.reason for item in checked.outcomes)
