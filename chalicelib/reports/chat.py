"""The report as a chat message: AWS Chatbot's custom notification, for Slack and Microsoft Teams.

Amazon Q Developer in chat applications (AWS Chatbot) subscribes to a topic
and shows in the channel only messages it can render: its own format,
``{"version": "1.0", "source": "custom", "content": {...}}`` (see
docs/deploying.md, "Chat"). It is built here from the same `Report` as the
email, from the report's JSON document: its subject is the title, the
description says in a few markdown lines what changed, who, from where
and what was done, the console link is a next step.

Chatbot renders markdown and mentions ("@here", Slack's ``<!channel>``,
Teams' ``<at>``), and the chat clients link bare URLs and host names; much
of a report is chosen by whoever made the change (a group's name, a rule's
description, a user agent, a prefix list's name in a rule's reason). So
every string of the document is written here either inside a code span
(`code`), where nothing is formatted and only what makes a mention or ends
the span is replaced, or as plain text (`inert`), where every character
that makes markdown (a link, emphasis, a table) and every URL or host name
is also replaced by a look-alike that makes none. The one link of a message
is the sentry's own: the console page of a valid group ID in a valid region,
built here, never from the document's text. Each field is bounded to
Chatbot's limits.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.ids import GROUP_ID, REGION
from chalicelib.reports.fit import Report
from chalicelib.reports.text import clean, console_link, duration_words, plural, taken_off

# Chatbot's limits for a custom notification (docs/deploying.md, "Chat").
TITLE_LIMIT = 250
DESCRIPTION_LIMIT = 8000
NEXT_STEP_LIMIT = 350
KEYWORD_LIMIT = 75
# How much of a report a chat message lists; the email and the log hold the rest.
GROUPS_LISTED = 5
RULES_LISTED = 5
RULES_LISTED_PER_GROUP = 3
NEXT_STEPS_LISTED = 3
MORE = "… more in the email and the sentry's log."

# What would make a mention (<!here>, <@U123>, <at>, @here), a link (<https://…|text>), an entity, or close a
# code span, each replaced by a character that looks alike and makes none: in a code span and in plain text.
_SPAN = {"<": "‹", ">": "›", "@": "＠", "&": "＆", "`": "ˋ"}
_IN_SPAN = str.maketrans(_SPAN)
# In plain text also what makes markdown: a link ([text](url), [text][ref]), bold, italics, strikethrough (*, _,
# ~) and a table (|).
_PLAIN = str.maketrans({**_SPAN, "[": "［", "]": "］", "*": "∗", "_": "ˍ", "~": "˜", "|": "ǀ"})
# And what a chat client links by itself: a URL (https://…) and a host name (evil.example, www.evil.example,
# with any of the dots IDNA reads as one). Addresses (0.0.0.0/0) keep their dots.
_HOST_DOT = re.compile(r"(?<=\w)[.。．｡](?=[^\W\d_])")
# How every subject begins, in the sentry's own words ("sg-sentry sweep [dry run]: …"): kept as it is.
_TAG = re.compile(r"sg-sentry(?: sweep)?(?: \[dry run\])?: ")


@dataclass(frozen=True)
class ChatNotification:
    """A report as Chatbot's custom notification: what the chat topic is sent."""

    subject: str
    notification: dict[str, Any]

    def sns_message(self) -> str:
        """The body for ``Publish(MessageStructure="json")``: the notification, for every protocol."""
        return json.dumps({"default": json.dumps(self.notification, ensure_ascii=False)})


def chat_notification(report: Report) -> ChatNotification:
    """The custom notification of any report (an event's, a sweep's, a problem, a sweep round)."""
    document = report.document
    if document.get("summary") == "not-evaluated":
        lines, steps = _problem(document)
    elif document.get("kind") == "sweep-round":
        lines, steps = _round(document)
    elif "kind" in document:
        lines, steps = _judgement(document)
    else:
        lines, steps = _change(document)
    dry_run = "dry run" if document.get("dry_run") else None
    keywords = ["sg-sentry", document.get("summary"), document.get("mode"), dry_run]
    groups = [group["id"] for group in _groups(document) if _is(GROUP_ID, group.get("id"))]
    content = {
        "textType": "client-markdown",
        "title": _title(report.subject),
        "description": bounded(lines),
        # Built from a valid group ID and region only (`_consoles`): its link must work, so it is never cut.
        "nextSteps": [step for step in steps if len(step) <= NEXT_STEP_LIMIT][:NEXT_STEPS_LISTED],
        "keywords": [inert(word, KEYWORD_LIMIT) for word in keywords if word],
    }
    metadata = {
        "eventType": f"sg-sentry-{document.get('kind', 'event')}",
        "relatedResources": groups[:GROUPS_LISTED],
    }
    notification = {
        "version": "1.0",
        "source": "custom",
        # The optional fields only when they say something.
        "content": {key: value for key, value in content.items() if value},
        "metadata": {key: value for key, value in metadata.items() if value},
    }
    return ChatNotification(report.subject, notification)


def inert(value: object, limit: int = 256) -> str:
    """One line of plain text that formats nothing in a chat: no mention, no markdown, no link; at most `limit`."""
    return _HOST_DOT.sub("․", clean(value, limit).translate(_PLAIN).replace("://", ":⁄⁄"))


def _title(subject: str) -> str:
    """The subject as the title: its tag as written, the rest (a group's name, ...) as plain text."""
    tag = _TAG.match(subject)
    said = tag[0] if tag else ""
    return said + inert(subject[len(said) :], TITLE_LIMIT - len(said))


def code(value: object, limit: int = 256) -> str:
    """`value` as a code span: shown as typed, never formatted (no mention, and the span ends where it should)."""
    return f"`{clean(value, limit).translate(_IN_SPAN) or '?'}`"


def _change(document: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    event, group = document.get("event", {}), document.get("group", {})
    lines = [
        f"*Group* {code(_label(group), 140)} in {code(event.get('region'), 32)}{_account(event)}",
        f"*Change* {code(event.get('name'), 64)} at {code(event.get('time'), 40)}",
        *_who(document.get("actor")),
        f"*Rules* ({document.get('rules_total', 0):,})",
        *_rules(document.get("rules", []), "• "),
    ]
    shown = min(len(document.get("rules", [])), RULES_LISTED)
    if document.get("rules_total", 0) > shown:
        lines.append(f"• … and {document['rules_total'] - shown:,} more")
    unreadable = document.get("unreadable_rules", [])[:RULES_LISTED]
    lines += [f"• could not read {code(item.get('rule'), 200)}" for item in unreadable]
    lines += [f"*Could not read* {code(problem, 300)}" for problem in document.get("unreadable", [])[:RULES_LISTED]]
    if isinstance(document.get("exposure_seconds"), int | float):
        lines.append(f"*Open for* {duration_words(document['exposure_seconds'])}, until the revert was confirmed")
    lines.append(_mode(document))
    return lines, _consoles([group], event.get("region"))


def _judgement(document: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    groups = _groups(document)
    checked = (
        f"{plural(document.get('groups_checked', 0), 'group')} ({plural(document.get('rules_checked', 0), 'rule')})"
    )
    if document.get("kind") == "sweep":
        where = f"{code(document.get('region'), 32)}{_account(document)}"
        lines = [f"*Sweep* of {where} at {code(document.get('time'), 40)}: {checked} checked"]
    else:
        event = document.get("event", {})
        lines = [
            f"*Change* {code(event.get('name'), 64)} in {code(event.get('region'), 32)}{_account(event)} "
            f"at {code(event.get('time'), 40)}: {inert(event.get('what'), 300)}",
            *_who(document.get("actor")),
            f"*Checked* {checked}",
        ]
    for tag in document.get("tags", [])[:GROUPS_LISTED]:
        tagged = f"{tag.get('key')}={tag.get('value')}"
        lines.append(f"• guard tag {code(tagged, 200)} on {code(tag.get('group_id'), 32)}: {inert(tag.get('outcome'))}")
    total = max(document.get("groups_total", 0), len(groups))
    if groups:
        lines.append(f"*Drift* on {plural(total, 'group')}")
    for group in groups[:GROUPS_LISTED]:
        lines.append(f"• {code(_label(group), 140)}: {_tally(group)}")
        lines += _rules(group.get("rules", []), "    ◦ ", RULES_LISTED_PER_GROUP)
    if total > min(len(groups), GROUPS_LISTED):
        lines.append(f"• … and {plural(total - min(len(groups), GROUPS_LISTED), 'more group')}")
    for item in document.get("interfaces", [])[:GROUPS_LISTED]:
        removed = ", ".join(item.get("removed", []))
        lines.append(
            f"• interface {code(item.get('interface_id'), 32)}: "
            f"{taken_off(str(item.get('outcome')), code(removed, 200))}: {inert(item.get('outcome'))}"
        )
    lines += [f"*Could not check* {code(problem, 300)}" for problem in document.get("problems", [])[:RULES_LISTED]]
    if document.get("not_judged"):
        lines.append(f"*Exposure only* (no baseline): {plural(len(document['not_judged']), 'group')}")
    lines.append(_mode(document))
    return lines, _consoles(groups, document.get("region"))


def _problem(document: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    event, group = document.get("event") or {}, document.get("group") or {}
    lines = [
        "*Nothing was judged, nothing was reverted*: check by hand.",
        f"*Problem* {code(document.get('problem'), 1000)}",
    ]
    if event:
        lines.append(f"*Event* {code(event.get('name'), 64)} {code(event.get('id') or 'unknown', 64)}")
    if group.get("id"):
        lines.append(f"*Group* {code(group['id'], 32)} in {code(event.get('region'), 32)}")
    return lines, _consoles([group], event.get("region"))


def _round(document: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    places = document.get("places", [])
    found = [place for place in places if place.get("subject") or place.get("problem")]
    lines = [
        f"*Sweep round* {code(document.get('round'), 80)}: {len(found):,} of {plural(len(places), 'account-region')}"
    ]
    for place in found[: GROUPS_LISTED * 2]:
        said = place.get("subject") or place.get("problem")
        lines.append(f"• {code(place.get('label') or place.get('place'), 120)}: {code(said, 300)}")
    if len(found) > GROUPS_LISTED * 2:
        lines.append(f"• … and {len(found) - GROUPS_LISTED * 2:,} more")
    return lines, []


def _who(actor: Mapping[str, Any] | None) -> list[str]:
    if not actor:
        return []
    through = (
        f"{code(actor['invoked_by'], 128)} on their behalf"
        if actor.get("invoked_by")
        else "the AWS console"
        if actor.get("console")
        else "the API"
    )
    return [
        f"*Who* {code(actor.get('arn') or actor.get('type'), 200)} ({inert(actor.get('type'), 40)})",
        f"*From* {code(actor.get('source_ip') or 'unknown', 64)} through {through}; "
        f"user agent {code(actor.get('user_agent') or 'unknown', 120)}",
    ]


def _rules(rules: Iterable[Mapping[str, Any]], bullet: str, listed: int = RULES_LISTED) -> list[str]:
    lines = []
    for rule in list(rules)[:listed]:
        described = f" {code(rule['description'], 120)}" if rule.get("description") else ""
        error = f" (AWS error: {code(rule['error'], 200)})" if rule.get("error") else ""
        lines.append(
            f"{bullet}{code(rule.get('rule'), 200)}{described}: *{inert(rule.get('outcome'), 40)}*, "
            f"{inert(rule.get('reason'), 200)}{error}"
        )
    return lines


def _tally(group: Mapping[str, Any]) -> str:
    """What was done on a group's rules listed in the document, e.g. "reverted 2, allowed 1"."""
    rules = [*group.get("rules", []), *group.get("unreadable", [])]
    counts = Counter(rule.get("outcome") for rule in rules)
    said = ", ".join(f"{inert(outcome, 40)} {count:,}" for outcome, count in counts.most_common())
    listed = len(group.get("rules", []))
    if group.get("rules_total", 0) > listed:
        return f"{group['rules_total']:,} rules, of the first {listed:,}: {said}"
    return said


def _groups(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "groups" in document:
        return list(document["groups"])
    group = document.get("group")
    return [group] if isinstance(group, Mapping) and group.get("id") else []


def _label(group: Mapping[str, Any]) -> str:
    name = f" ({clean(group['name'], 64)})" if group.get("name") else ""
    return f"{clean(group.get('id'), 32)}{name}"


def _account(where: Mapping[str, Any]) -> str:
    account = where.get("account")
    if not account:
        return ""
    name = f" ({where['account_name']})" if where.get("account_name") else ""
    return f", account {code(f'{account}{name}', 100)}"


def _mode(document: Mapping[str, Any]) -> str:
    dry_run = "*on*: nothing was changed" if document.get("dry_run") else "off"
    return f"Mode {code(document.get('mode'), 20)}; dry run {dry_run}."


def _consoles(groups: Iterable[Mapping[str, Any]], region: object) -> list[str]:
    """The next steps: each group's console page, built from its ID and the region when both are AWS's shapes.

    Not from the document's ``console_url`` and never through `inert`: the link must work, and nothing but a
    valid ID and region may make it (the ID is the only part a change's author could have chosen).
    """
    if not _is(REGION, region):
        return []
    return [
        f"Open {group['id']} in the EC2 console: {console_link(str(region), group['id'])}"
        for group in groups
        if _is(GROUP_ID, group.get("id"))
    ]


def _is(shape: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and shape.fullmatch(value) is not None


def bounded(lines: list[str], limit: int = DESCRIPTION_LIMIT) -> str:
    """The lines, whole, as many as fit in `limit` characters (the last saying more is elsewhere)."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = len(MORE)
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, MORE])
