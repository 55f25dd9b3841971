"""The chat message: AWS Chatbot's custom notification of a report, within its limits, formatting nothing hostile."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.cloudtrail.indirect import parse_change
from chalicelib.domain.accounts import Place
from chalicelib.domain.change import IndirectChange
from chalicelib.domain.config import ConfigError, Settings
from chalicelib.domain.outcome import GroupOutcome, Outcome, RuleOutcome, SweepResult, Trigger
from chalicelib.domain.policy import Mode
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind
from chalicelib.domain.sweep_round import PlaceFindings, RoundResult
from chalicelib.reports import build_report
from chalicelib.reports.chat import bounded, chat_notification
from chalicelib.reports.fit import Report
from chalicelib.reports.problem import problem_report
from chalicelib.reports.sweep_round import build_round_report
from tests.conftest import load_event
from tests.fuzz.strategies import HOSTILE as FUZZED
from tests.unit.test_report import HTTPS, SNS_LIMIT, SSH, handled

# Chatbot's limits for a custom notification, as its documentation gives them (docs/deploying.md, "Chat"):
# literals here, not chalicelib.reports.chat's own constants.
TITLE, DESCRIPTION, NEXT_STEP, KEYWORD = 250, 8000, 350, 75
CONSOLE = "https://eu-central-1.console.aws.amazon.com/ec2/home?region=eu-central-1#SecurityGroup:groupId="
GROUP = "sg-0a1b2c3d4e5f60718"
# What a change's author may choose (a group's name, a rule's description, a user agent) and a chat would act
# on: Slack's special mentions and user mentions, Teams' mention tag, @-names, links, an entity, a code span's end.
HOSTILE = (
    "<!channel> <!here|here> <@U012AB3CD> <at>Ops</at> @here @channel <https://evil.example|click> &lt;!everyone&gt; `x"
)


def sent(report: Report) -> dict[str, Any]:
    """The custom notification as SNS delivers it to the chat topic's subscribers (Chatbot: HTTPS, `default`)."""
    message = json.loads(chat_notification(report).sns_message())
    assert set(message) == {"default"}
    notification: dict[str, Any] = json.loads(message["default"])
    return notification


def strings(notification: dict[str, Any]) -> list[str]:
    content = notification["content"]
    return [content["title"], content["description"], *content.get("nextSteps", []), *content.get("keywords", [])]


def within_limits(notification: dict[str, Any]) -> None:
    content = notification["content"]
    assert (notification["version"], notification["source"]) == ("1.0", "custom")
    assert content["textType"] == "client-markdown"
    assert 0 < len(content["title"]) <= TITLE and 0 < len(content["description"]) <= DESCRIPTION
    assert all(len(step) <= NEXT_STEP for step in content.get("nextSteps", []))
    assert all(0 < len(word) <= KEYWORD for word in content.get("keywords", []))


def test_an_event_report_says_what_changed_who_from_where_and_what_was_done() -> None:
    report = build_report(
        handled(
            RuleOutcome(SSH, Outcome.REVERTED, "lockdown mode: no rule may be added"),
            RuleOutcome(HTTPS, Outcome.ALLOWED, "source 10.0.0.0/8 is internal"),
        )
    )

    notification = sent(report)

    within_limits(notification)
    content = notification["content"]
    assert content["title"] == "sg-sentry: reverted 1 rule, allowed 1 rule on sg-0a1b2c3d4e5f60718 (web-prod)"
    description = content["description"]
    for expected in (
        f"*Group* `{GROUP} (web-prod)` in `eu-central-1`, account `111122223333`",
        "*Change* `AuthorizeSecurityGroupIngress` at `2026-10-02T08:30:00Z`",
        "*Who* `arn:aws:iam::111122223333:user/dana` (IAMUser)",
        "*From* `203.0.113.50` through the API",
        "• `tcp 22 from 0.0.0.0/0, ingress` `temp`: *reverted*, lockdown mode: no rule may be added",
        "• `tcp 443 from 10.0.0.0/8, ingress`: *allowed*, source 10.0.0.0/8 is internal",
        "Mode `lockdown`; dry run off.",
    ):
        assert expected in description
    assert content["nextSteps"] == [f"Open {GROUP} in the EC2 console: {CONSOLE}{GROUP}"]
    assert content["keywords"] == ["sg-sentry", "reverted", "lockdown"]
    assert notification["metadata"] == {"eventType": "sg-sentry-event", "relatedResources": [GROUP]}


def test_a_dry_run_says_nothing_was_changed() -> None:
    report = build_report(handled(RuleOutcome(SSH, Outcome.WOULD_REVERT, "opens tcp 22"), dry_run=True))
    content = sent(report)["content"]
    assert content["title"].startswith("sg-sentry [dry run]: would revert 1 rule")
    assert content["description"].endswith("dry run *on*: nothing was changed.")
    assert "dry run" in content["keywords"]


@pytest.mark.parametrize("where", ["group name", "rule description", "user agent", "principal"])
def test_nothing_an_author_chose_can_mention_link_or_format(where: str) -> None:
    change = handled().change
    actor = change.actor
    if where == "user agent":
        change = replace(change, actor=replace(actor, user_agent=HOSTILE))
    if where == "principal":
        change = replace(change, actor=replace(actor, arn=HOSTILE))
    rule = replace(SSH, description=HOSTILE) if where == "rule description" else SSH
    name = HOSTILE if where == "group name" else "web-prod"
    report = build_report(handled(RuleOutcome(rule, Outcome.REVERTED, "opens tcp 22"), change=change, name=name))

    notification = sent(report)

    within_limits(notification)
    for text in strings(notification):
        # No mention (<!here>, <@U…>, <at>, @here), no link (<url|text>), no entity can form.
        assert not set(text) & set("<>@&"), text
        for line in text.splitlines():
            assert line.count("`") % 2 == 0, line  # every code span closed where it opened
    spans = re.findall(r"`([^`]*)`", notification["content"]["description"])
    # The hostile text is shown, look-alikes for what would act, inside one code span (nothing formats there).
    assert any("‹!channel› ‹!here|here› ‹＠U012AB3CD› ‹at›Ops‹/at› ＠here" in span for span in spans), spans


# The fuzzers' hostile strings, and the pieces a chat acts on, in any order.
AUTHORED = st.one_of(
    FUZZED, st.lists(st.sampled_from(["<", ">", "@", "&", "`", "!here", "|", "*", "\n", "x"])).map("".join)
)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(name=AUTHORED, description=AUTHORED, agent=AUTHORED)
def test_whatever_the_author_chose_the_message_is_inert_and_within_limits(
    name: str, description: str, agent: str
) -> None:
    change = handled().change
    change = replace(change, actor=replace(change.actor, user_agent=agent))
    rule = replace(SSH, description=description)
    notification = sent(build_report(handled(RuleOutcome(rule, Outcome.REVERTED, "x"), change=change, name=name)))
    within_limits(notification)
    for text in strings(notification):
        assert not set(text) & set("<>@&")
        assert all(line.count("`") % 2 == 0 for line in text.splitlines())


LINK = "[Open the approval form](https://evil.example/sso)"


def test_a_link_or_markdown_an_author_chose_is_shown_as_text_never_made() -> None:
    # A prefix list's name and an entry's description reach the reason; a group's name, the title.
    reason = f'opens tcp 22 through pl-0123456789abcdef0 (corp {LINK}), holds 0.0.0.0/0 ("*URGENT* www.evil.example")'
    name = "[Approve](https://evil.example/g) _a_ ~b~ |"
    report = build_report(handled(RuleOutcome(SSH, Outcome.REVERTED, reason), name=name))

    content = sent(report)["content"]

    looks_alike = "［Approve］(https:⁄⁄evil․example/g) ˍaˍ ˜b˜ ǀ"
    assert content["title"] == f"sg-sentry: reverted 1 rule on {GROUP} ({looks_alike})"
    assert (
        "*reverted*, opens tcp 22 through pl-0123456789abcdef0 "
        '(corp ［Open the approval form］(https:⁄⁄evil․example/sso)), holds 0.0.0.0/0 ("∗URGENT∗ www․evil․example")'
    ) in content["description"]
    # Inside a code span, as typed: nothing formats there.
    assert f"*Group* `{GROUP} ({name})`" in content["description"]
    # The one link: the sentry's own, whole.
    assert content["nextSteps"] == [f"Open {GROUP} in the EC2 console: {CONSOLE}{GROUP}"]


# The pieces of markdown, links, URLs and host names, in any order; and the fuzzers' hostile strings.
MARKDOWN = st.one_of(
    FUZZED,
    st.sampled_from([LINK, "https://evil.example", "www.evil.example", "evil。example", "*URGENT* ~x~ _now_ |"]),
    st.lists(
        st.sampled_from(
            ["[", "]", "(", ")", "*", "_", "~", "|", "://", "https", ".", "．", "evil", "@", "<", " ", "\n"]
        )
    ).map("".join),
)
SPAN = re.compile(r"`[^`\n]*`")
MARKUP = re.compile(r"[][*_~|]")
# A URL, or a host name a chat client would link by itself (evil.example, with any dot IDNA reads as one).
URL = re.compile(r"://|\w[.。．｡][^\W\d_]")


def formatted(notification: dict[str, Any]) -> list[str]:
    """What a chat client formats: the title and the description, without their code spans."""
    content = notification["content"]
    return [SPAN.sub("", text) for text in (content["title"], content["description"])]


def makes_only_its_own_markdown(hostile: dict[str, Any], benign: dict[str, Any]) -> None:
    """The author's text makes no mention, link, URL or markdown: the sentry's own is all there is."""
    within_limits(hostile)
    for text, plain in zip(formatted(hostile), formatted(benign), strict=True):
        assert not set(text) & set("<>@&"), text
        assert "](" not in text and "][" not in text, text
        assert not URL.search(text), text
        assert MARKUP.findall(text) == MARKUP.findall(plain), text
    assert hostile["content"].get("nextSteps") == benign["content"].get("nextSteps")


def test_the_console_link_is_made_of_a_valid_group_id_and_region_only() -> None:
    forged = replace(handled().change, group_id="sg-1](https://evil.example)")
    forged_region = sent(problem_report("AccessDenied", "evil.example/eu-central-1", "evt-1", handled().change))
    forged_group = sent(problem_report("AccessDenied", "eu-central-1", "evt-1", forged))
    for notification in (forged_region, forged_group):
        assert "nextSteps" not in notification["content"]  # no link rather than a broken or foreign one
        assert not any(URL.search(text) or "](" in text for text in formatted(notification)), notification
    assert forged_region["metadata"] == {"eventType": "sg-sentry-event", "relatedResources": [GROUP]}
    assert forged_group["metadata"] == {"eventType": "sg-sentry-event"}


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(name=MARKDOWN, description=MARKDOWN, agent=MARKDOWN, reason=MARKDOWN)
def test_no_author_can_make_a_link_a_mention_a_url_or_markdown_in_an_event_report(
    name: str, description: str, agent: str, reason: str
) -> None:
    def notified(name: str, description: str, agent: str, reason: str) -> dict[str, Any]:
        change = handled().change
        change = replace(change, actor=replace(change.actor, user_agent=agent))
        rule = RuleOutcome(replace(SSH, description=description), Outcome.REVERTED, reason)
        return sent(build_report(handled(rule, change=change, name=name)))

    hostile = notified(name, description, agent, reason)
    makes_only_its_own_markdown(hostile, notified("x", "x", "x", "x"))
    assert hostile["content"]["nextSteps"] == [f"Open {GROUP} in the EC2 console: {CONSOLE}{GROUP}"]


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(name=MARKDOWN, reason=MARKDOWN, what=MARKDOWN)
def test_no_author_can_make_a_link_a_mention_a_url_or_markdown_in_a_check(name: str, reason: str, what: str) -> None:
    change = parse_change(load_event("delete_tags_guard.json"))
    assert isinstance(change, IndirectChange)

    def notified(name: str, reason: str, what: str) -> dict[str, Any]:
        group = GroupOutcome(GROUP, name, Mode.LOCKDOWN, False, (RuleOutcome(SSH, Outcome.REVERTED, reason),))
        trigger = Trigger(change, what, "judged at once")
        result = SweepResult(
            change.region, "2026-11-23T09:00:00Z", Mode.LOCKDOWN, False, 1, 2, (group,), trigger=trigger
        )
        return sent(build_report(result))

    makes_only_its_own_markdown(notified(name, reason, what), notified("x", "x", "x"))


@pytest.mark.parametrize(
    ("drifted", "said"),
    [(1, ["1 group (1 rule) checked", "*Drift* on 1 group\n"]), (6, ["6 groups (1 rule)", "• … and 1 more group\n"])],
)
def test_a_sweep_counts_its_groups_and_rules_in_words(drifted: int, said: list[str]) -> None:
    groups = tuple(
        GroupOutcome(f"sg-{number:017x}", "web", Mode.INTERNET, False, (RuleOutcome(SSH, Outcome.REVERTED, "x"),))
        for number in range(drifted)
    )
    result = SweepResult("eu-west-1", "2026-11-23T09:00:00+00:00", Mode.INTERNET, False, drifted, 1, groups)
    description = sent(build_report(result))["content"]["description"]
    for words in said:
        assert words in description


def test_a_hostile_group_name_in_the_title_mentions_no_one() -> None:
    report = build_report(handled(RuleOutcome(SSH, Outcome.REVERTED, "opens tcp 22"), name="@here <!channel>"))
    title = sent(report)["content"]["title"]
    assert title == f"sg-sentry: reverted 1 rule on {GROUP} (＠here ‹!channel›)"


@pytest.mark.parametrize(("groups", "rules"), [(10_000, 3), (3, 2_000)])
def test_a_sweep_that_found_much_is_one_short_message_within_chatbots_limits(groups: int, rules: int) -> None:
    drifted = tuple(
        GroupOutcome(
            f"sg-{number:017x}",
            HOSTILE * 5,
            Mode.INTERNET,
            False,
            tuple(RuleOutcome(replace(SSH, description="é" * 255), Outcome.REVERTED, "x" * 999) for _ in range(rules)),
        )
        for number in range(groups)
    )
    result = SweepResult("eu-west-1", "2026-11-23T09:00:00+00:00", Mode.INTERNET, False, groups, groups, drifted)
    report = build_report(result)

    notification = sent(report)

    within_limits(notification)
    assert len(chat_notification(report).sns_message().encode()) <= SNS_LIMIT
    content = notification["content"]
    assert content["description"].startswith("*Sweep* of `eu-west-1` at `2026-11-23T09:00:00+00:00`")
    assert f"*Drift* on {groups:,} groups" in content["description"]
    assert "`sg-00000000000000000 (‹!channel›" in content["description"]
    if rules > 40:  # the document lists the first rules of each group only, and the chat says so
        assert re.search(rf"`: {rules:,} rules, of the first (\d+): reverted \1\n", content["description"])
    assert len(content["nextSteps"]) == min(groups, 3)
    assert notification["metadata"]["eventType"] == "sg-sentry-sweep"


def test_the_description_keeps_whole_lines_and_says_the_rest_is_elsewhere() -> None:
    lines = [f"line {number} " + "x" * 90 for number in range(200)]
    text = bounded(lines)
    assert len(text) <= DESCRIPTION
    kept = text.splitlines()
    assert kept[:-1] == lines[: len(kept) - 1] and kept[-1] == "… more in the email and the sentry's log."
    assert bounded(lines[:3]) == "\n".join(lines[:3])


def test_an_event_check_names_the_event_its_author_and_the_groups_put_right() -> None:
    change = parse_change(load_event("delete_tags_guard.json"))
    assert isinstance(change, IndirectChange)
    group = GroupOutcome(GROUP, "web", Mode.LOCKDOWN, False, (RuleOutcome(SSH, Outcome.REVERTED, "not approved"),))
    trigger = Trigger(change, f"deleted the guard tag of {GROUP}", "judged at once")
    result = SweepResult(change.region, change.header.event_time, Mode.LOCKDOWN, False, 1, 2, (group,), trigger=trigger)

    notification = sent(build_report(result))

    within_limits(notification)
    description = notification["content"]["description"]
    assert f"*Change* `DeleteTags` in `{change.region}`" in description
    assert f"deleted the guard tag of {GROUP}" in description
    assert f"*Who* `{change.actor.arn}`" in description.replace("＠", "@")
    assert f"• `{GROUP} (web)`: reverted 1" in description
    assert notification["metadata"]["eventType"] == "sg-sentry-event"


def test_a_problem_says_nothing_was_judged_and_what_went_wrong() -> None:
    change = handled().change
    report = problem_report("AccessDenied: not authorized <!here>", "eu-central-1", "evt-1", change)

    notification = sent(report)

    within_limits(notification)
    description = notification["content"]["description"]
    assert description.startswith("*Nothing was judged, nothing was reverted*: check by hand.")
    assert "*Problem* `AccessDenied: not authorized ‹!here›`" in description
    assert notification["content"]["keywords"] == ["sg-sentry", "not-evaluated"]
    assert notification["content"]["nextSteps"] == [f"Open {GROUP} in the EC2 console: {CONSOLE}{GROUP}"]


def test_a_sweep_round_names_each_place_that_found_something() -> None:
    places = (
        PlaceFindings(Place("111122223333", "eu-west-1"), "prod", "reverted", False, True, 3, "sg-sentry sweep: x"),
        PlaceFindings(Place("444455556666", "eu-west-1"), "dev", "clean", False, False, 2),
        PlaceFindings(Place("777788889999", "us-east-1"), "lab", "failed", True, False, problem="AccessDenied"),
    )
    report = build_round_report(RoundResult("round-1", False, places))

    description = sent(report)["content"]["description"]

    assert description.splitlines() == [
        "*Sweep round* `round-1`: 2 of 3 account-regions",
        "• `prod`: `sg-sentry sweep: x`",
        "• `lab`: `AccessDenied`",
    ]


def test_the_chat_topic_is_a_setting_of_its_own() -> None:
    chat = "arn:aws:sns:eu-west-1:111122223333:sg-sentry-chat"
    email = "arn:aws:sns:eu-west-1:111122223333:sg-sentry-alerts"
    assert Settings.from_env({"SENTRY_CHAT_TOPIC_ARN": chat}).chat_topic_arn == chat
    assert Settings.from_env({}).chat_topic_arn is None
    with pytest.raises(ConfigError, match=r"SENTRY_CHAT_TOPIC_ARN='sg-sentry-chat': not an SNS topic ARN"):
        Settings.from_env({"SENTRY_CHAT_TOPIC_ARN": "sg-sentry-chat"})
    # Its subscribers would get every report twice, once as the chat's JSON.
    with pytest.raises(ConfigError, match="SENTRY_CHAT_TOPIC_ARN: is SENTRY_TOPIC_ARN"):
        Settings.from_env({"SENTRY_CHAT_TOPIC_ARN": email, "SENTRY_TOPIC_ARN": email})


def test_the_rule_text_is_shown_as_the_email_shows_it() -> None:
    rule = Rule.build(Direction.EGRESS, "-1", None, None, Source(SourceKind.CIDR_IPV6, "::/0"))
    description = sent(build_report(handled(RuleOutcome(rule, Outcome.REVERTED, "lockdown"))))["content"]["description"]
    assert f"• `{rule}`: *reverted*, lockdown" in description
