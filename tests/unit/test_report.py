"""The report: what the email says, and that actor-controlled text cannot break it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chalicelib.cloudtrail.records import parse_event
from chalicelib.domain.change import Actor, SecurityGroupChange
from chalicelib.domain.outcome import GroupOutcome, HandledChange, Outcome, RuleOutcome
from chalicelib.domain.policy import Mode
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind
from chalicelib.reports import build_report
from chalicelib.reports.problem import problem_report
from chalicelib.reports.text import SUBJECT_LIMIT, clean, subject_line
from tests.conftest import load_event

SSH = Rule.build(Direction.INGRESS, "tcp", 22, 22, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), "temp", "sgr-0001")
HTTPS = Rule.build(Direction.INGRESS, "tcp", 443, 443, Source(SourceKind.CIDR_IPV4, "10.0.0.0/8"))
# SNS's documented limit for one message (256 KiB): AWS's number, not chalicelib.reports.fit's own margin under it.
SNS_LIMIT = 262_144


def handled(*rules: RuleOutcome, change: SecurityGroupChange | None = None, **fields: object) -> HandledChange:
    change = change or parse_event(load_event("authorize_ingress_nested_ruleset.json"))
    group = GroupOutcome("sg-0a1b2c3d4e5f60718", "web-prod", Mode.LOCKDOWN, False, rules)
    return HandledChange(change, replace(group, **fields))  # type: ignore[arg-type]


def test_the_email_says_what_who_when_and_what_was_done() -> None:
    report = build_report(
        handled(
            RuleOutcome(SSH, Outcome.REVERTED, "lockdown mode: no rule may be added"),
            RuleOutcome(HTTPS, Outcome.ALLOWED, "source 10.0.0.0/8 is internal"),
        )
    )
    text = report.text
    for expected in (
        "Account      111122223333",
        "Region       eu-central-1",
        "Group        sg-0a1b2c3d4e5f60718 (web-prod)",
        "When         2026-10-02T08:30:00Z",
        "Principal    arn:aws:iam::111122223333:user/dana",
        "Identity     IAMUser",
        "Source IP    203.0.113.50",
        "user agent aws-cli/2.22.0",
        '1. tcp 22 from 0.0.0.0/0, ingress [sgr-0001] "temp"',
        "REVERTED: lockdown mode",
        "2. tcp 443 from 10.0.0.0/8, ingress",
        "ALLOWED: source 10.0.0.0/8 is internal",
        "CloudTrail event ID  evt-nested-ruleset",
        "https://eu-central-1.console.aws.amazon.com/ec2/home?region=eu-central-1#SecurityGroup:groupId=sg-0a1b2c3d4e5f60718",
    ):
        assert expected in text
    assert report.subject == "sg-sentry: reverted 1 rule, allowed 1 rule on sg-0a1b2c3d4e5f60718 (web-prod)"


@pytest.mark.parametrize(
    ("outcomes", "dry_run", "subject"),
    [
        ([Outcome.FAILED, Outcome.REVERTED], False, "sg-sentry: FAILED to revert 1 rule, reverted 1 rule on"),
        ([Outcome.WOULD_REVERT, Outcome.WOULD_REVERT], True, "sg-sentry [dry run]: would revert 2 rules on"),
        ([Outcome.ALLOWED], False, "sg-sentry: allowed 1 rule on"),
        ([Outcome.ALREADY_GONE], False, "sg-sentry: 1 rule already gone on"),
        ([Outcome.SUPERSEDED], False, "sg-sentry: nothing to revert, rules changed again since on"),
    ],
)
def test_the_subject_leads_with_the_outcome(outcomes: list[Outcome], dry_run: bool, subject: str) -> None:
    rules = [
        RuleOutcome(SSH, outcome, "why", "AccessDenied: no" if outcome is Outcome.FAILED else None)
        for outcome in outcomes
    ]
    assert build_report(handled(*rules, dry_run=dry_run)).subject.startswith(subject)


def test_unreadable_parts_are_reported() -> None:
    change = parse_event(load_event("authorize_ingress_nested_ruleset.json"))
    change = replace(change, unreadable=("permission 2: missing field 'GroupId': {...}",))
    report = build_report(handled(RuleOutcome(SSH, Outcome.REVERTED, "why"), change=change))
    assert report.subject.startswith("sg-sentry: could not read 1 part, reverted 1 rule on")
    assert "COULD NOT READ: permission 2: missing field 'GroupId'" in report.text
    assert report.document["unreadable"] == ["permission 2: missing field 'GroupId': {...}"]


def test_a_change_made_by_a_service_says_so() -> None:
    change = parse_event(load_event("authorize_ingress_group_name_ruleset.json"))
    text = build_report(handled(RuleOutcome(SSH, Outcome.REVERTED, "why"), change=change)).text
    assert "Through      cloudformation.amazonaws.com, on the principal's behalf" in text


def test_the_problem_report_says_nothing_was_reverted() -> None:
    change = parse_event(load_event("authorize_ingress_nested_ruleset.json"))
    report = problem_report("DescribeSecurityGroups: AccessDenied", "eu-central-1", change.event_id, change)
    assert report.subject == "sg-sentry: could not evaluate AuthorizeSecurityGroupIngress on sg-0a1b2c3d4e5f60718"
    assert "so it reverted nothing. Check the group by hand." in report.text
    assert "Problem      DescribeSecurityGroups: AccessDenied" in report.text
    assert report.document["summary"] == "not-evaluated"
    unparsed = problem_report("eventName is odd", "eu-central-1", None)
    assert unparsed.subject == "sg-sentry: could not evaluate a security-group change"


def test_failures_carry_the_aws_error() -> None:
    report = build_report(handled(RuleOutcome(SSH, Outcome.FAILED, "why", "UnauthorizedOperation: denied")))
    assert "FAILED TO REVERT: why (AWS error: UnauthorizedOperation: denied)" in report.text
    assert report.document["summary"] == "failed"


HOSTILE = "evil\r\nBcc: victim@example.com\x00\x1b[31m\u202eexe.txt\u2028next " + "ü" * 500


def test_hostile_text_cannot_break_the_subject() -> None:
    change = parse_event(load_event("authorize_ingress_nested_ruleset.json"))
    report = build_report(handled(RuleOutcome(SSH, Outcome.REVERTED, "why"), change=change, name=HOSTILE))
    subject = report.subject
    assert len(subject) <= SUBJECT_LIMIT
    assert all(32 <= ord(char) < 127 for char in subject)
    assert subject.startswith("sg-sentry: reverted 1 rule on sg-0a1b2c3d4e5f60718 (evil Bcc:")


def test_hostile_text_is_one_bounded_line_in_the_body() -> None:
    change = parse_event(load_event("authorize_ingress_nested_ruleset.json"))
    actor = Actor("IAMUser", arn="arn:aws:iam::1:user/x", user_agent=HOSTILE)
    rule = replace(SSH, description=HOSTILE)
    report = build_report(handled(RuleOutcome(rule, Outcome.REVERTED, "why"), change=replace(change, actor=actor)))
    for line in report.text.splitlines():
        assert "\r" not in line and "\x00" not in line and "\x1b" not in line and "\u202e" not in line
        assert len(line) < 400
    assert "Bcc: victim@example.com" in report.text  # kept, but inside one line
    assert not any(line.startswith("Bcc:") for line in report.text.splitlines())


def test_sns_message_gives_email_the_text_and_everyone_else_json() -> None:
    report = build_report(handled(RuleOutcome(SSH, Outcome.REVERTED, "why")))
    message = json.loads(report.sns_message())
    assert message["email"] == report.text
    document = json.loads(message["default"])
    assert document == report.document
    assert set(message) == {"default", "email", "sms"}  # email-json, sqs, lambda, https get "default"
    assert document["group"]["id"] == "sg-0a1b2c3d4e5f60718"
    assert document["actor"]["arn"] == "arn:aws:iam::111122223333:user/dana"
    assert (document["rules"][0]["rule"], document["rules"][0]["outcome"]) == (
        "tcp 22 from 0.0.0.0/0, ingress",
        "reverted",
    )
    assert document["text"] == report.text


def test_a_modification_that_was_reverted_says_it_was_removed_not_restored() -> None:
    change = parse_event(load_event("modify_rules_single.json"))
    rule = change.updates[0].as_rule(Direction.INGRESS)
    text = build_report(handled(RuleOutcome(rule, Outcome.REVERTED, "why"), change=change)).text
    assert "redefined 1 rule on security group" in text
    assert "removed, not put back" in text


def test_very_many_rules_are_listed_up_to_a_limit() -> None:
    rules = [RuleOutcome(SSH, Outcome.REVERTED, "why")] * 250
    report = build_report(handled(*rules))
    assert "... and 150 more rules" in report.text
    assert len(report.document["rules"]) == 100 and report.document["rules_total"] == 250
    assert len(report.sns_message().encode()) < SNS_LIMIT


def test_a_message_full_of_long_descriptions_still_fits_in_sns() -> None:
    wordy = replace(SSH, description="é\u2028" * 2000)
    rules = [RuleOutcome(wordy, Outcome.REVERTED, "r" * 1000, "e" * 1000)] * 300
    report = build_report(handled(*rules))
    assert len(report.sns_message().encode()) <= SNS_LIMIT
    assert report.document["rules_total"] == 300 and 0 < len(report.document["rules"]) < 100
    assert f"and {300 - len(report.document['rules'])} more rules" in report.text


def test_clean() -> None:
    assert clean("a\tb\nc") == "a b c"
    assert clean("x" * 10, 5) == "xxxx…"
    assert subject_line("é" * 200) == "?" * 96 + "..."


def test_found_by_fuzzing_odd_spaces_surrogates_and_unassigned_code_points_never_reach_sns() -> None:
    # A lone surrogate cannot be encoded as UTF-8: left in, publishing would fail outright.
    odd = "no\u00a0break\u2003em\ud800lone\ue000private\U000e0001tag\u0378unassigned"
    rule = replace(SSH, description=odd)
    report = build_report(handled(RuleOutcome(rule, Outcome.REVERTED, odd)))
    assert all(line.isprintable() for line in report.text.splitlines())
    report.sns_message().encode("utf-8")  # would raise UnicodeEncodeError
    assert "no break em lone private tag unassigned" in report.text


def test_a_redefined_rule_shows_what_it_was_and_what_it_is_again() -> None:
    modified = Rule.build(Direction.INGRESS, "tcp", 443, 443, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), None, "sgr-7")
    report = build_report(
        handled(
            RuleOutcome(modified, Outcome.RESTORED, "rule sgr-7 differs from its approved definition", approved=HTTPS),
            baseline_rules=3,
        )
    )
    assert report.subject == "sg-sentry: restored 1 rule on sg-0a1b2c3d4e5f60718 (web-prod)"
    assert "tcp 443 from 0.0.0.0/0, ingress [sgr-7]\n     RESTORED: rule sgr-7 differs" in report.text
    assert "     Approved definition: tcp 443 from 10.0.0.0/8, ingress\n" in report.text
    assert "held to its baseline of 3 rules" in report.text
    assert report.document["rules"][0]["approved"] == "tcp 443 from 10.0.0.0/8, ingress"


def _sweep_result(groups: int, rules_per_group: int) -> object:
    from chalicelib.domain.outcome import SweepResult

    drifted = tuple(
        GroupOutcome(
            f"sg-{number:017x}",
            "x" * 200,
            Mode.INTERNET,
            False,
            tuple(RuleOutcome(SSH, Outcome.REVERTED, "opens tcp 22 to the internet") for _ in range(rules_per_group)),
        )
        for number in range(groups)
    )
    return SweepResult("eu-west-1", "2026-11-23T09:00:00+00:00", Mode.INTERNET, False, groups * 2, 99, drifted, ())


@pytest.mark.parametrize(("groups", "rules"), [(1, 1), (10_000, 3), (5, 2_000)])
def test_one_sweep_message_fits_in_sns_however_much_it_found(groups: int, rules: int) -> None:
    from chalicelib.reports.judgement import build_sweep_report

    report = build_sweep_report(_sweep_result(groups, rules))  # type: ignore[arg-type]
    assert len(report.sns_message().encode()) <= SNS_LIMIT
    assert len(report.subject) <= SUBJECT_LIMIT
    total = groups * rules
    assert report.subject.startswith(f"sg-sentry sweep: reverted {total:,} rule")
    assert f"found drift on {groups:,}: reverted {total:,} rule" in report.text
    assert "Exemptions (SENTRY_EXEMPT_PRINCIPALS) do not apply" in report.text
    assert report.document["groups_total"] == groups


@pytest.mark.parametrize(("dry_run", "said"), [(False, "it reverted only"), (True, "it would revert only")])
def test_groups_judged_for_exposure_only_are_told_in_the_runs_own_tense(dry_run: bool, said: str) -> None:
    from chalicelib.domain.outcome import SweepResult
    from chalicelib.reports.judgement import build_sweep_report

    result = SweepResult("eu-west-1", "2026-11-23T09:00:00+00:00", Mode.LOCKDOWN, dry_run, 1, 1, unjudged=("sg-1",))
    text = build_sweep_report(result).text
    assert f"{said} what opens them to the internet" in text


@pytest.mark.parametrize(
    ("outcome", "said"),
    [
        (Outcome.REVERTED, "REVERTED: took sg-open off"),
        (Outcome.WOULD_REVERT, "WOULD REVERT (DRY RUN): would take sg-open off"),
        (Outcome.CANNOT_CHANGE, "CANNOT CHANGE: cannot take sg-open off"),
        (Outcome.FAILED, "FAILED TO REVERT: could not take sg-open off"),
    ],
)
def test_an_interface_is_told_in_the_tense_of_what_became_of_it(outcome: Outcome, said: str) -> None:
    from chalicelib.domain.interfaces import Interface, InterfaceFix, Opening
    from chalicelib.domain.outcome import InterfaceOutcome, SweepResult
    from chalicelib.reports.chat import chat_notification
    from chalicelib.reports.judgement import build_sweep_report

    interface = Interface("eni-0001", "i-0001", ("sg-guarded", "sg-open"))
    fix = InterfaceFix(interface, ("sg-guarded",), (Opening("sg-open", SSH, "opens tcp 22"),), ("sg-guarded",))
    dry_run = outcome is Outcome.WOULD_REVERT
    result = SweepResult("eu-west-1", "2026-11-23T09:00:00+00:00", Mode.INTERNET, dry_run, 1, 1)
    report = build_sweep_report(replace(result, interfaces=(InterfaceOutcome(fix, outcome),)))
    assert f"{said}; it keeps sg-guarded" in report.text
    verb = said.split(": ", 1)[1].removesuffix(" sg-open off")
    chat = chat_notification(report).notification["content"]["description"]
    assert f"interface `eni-0001`: {verb} `sg-open` off: {outcome.word}" in chat
