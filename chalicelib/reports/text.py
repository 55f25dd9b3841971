"""Text that is safe to send: every string a report takes from a change is bounded and cleaned here.

Much of what reaches a report is chosen by whoever made the change (rule
descriptions, group names, user agents), so every such string is bounded
and stripped of control characters. The subject obeys SNS's rules
(printable ASCII, no line breaks, under 100 characters) whatever the input,
so a hostile description can never make the publish fail.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

from chalicelib.domain.outcome import Outcome, Outcomed

SUBJECT_LIMIT = 99

FIELD_LIMIT = 256


def clean(value: object, limit: int = FIELD_LIMIT) -> str:
    """One line of printable text, at most `limit` characters."""
    text = str(value)
    # Nearly every field is printable ASCII, which has nothing to replace: checking each
    # character's Unicode category was most of the handler's own time (bench/event.py).
    if not (text.isascii() and text.isprintable()):
        text = "".join(" " if _is_control(char) else char for char in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subject_line(text: str) -> str:
    """An SNS-safe subject: printable ASCII, one line, at most SUBJECT_LIMIT characters."""
    ascii_text = "".join(char if 32 <= ord(char) < 127 else "?" for char in clean(text, 10_000))
    if len(ascii_text) > SUBJECT_LIMIT:
        ascii_text = ascii_text[: SUBJECT_LIMIT - 3] + "..."
    return ascii_text


def dry_run_words(dry_run: bool) -> str:
    """How every report ends its mode line."""
    return "on: nothing was changed" if dry_run else "off"


def console_link(region: str, group_id: str) -> str:
    return f"https://{region}.console.aws.amazon.com/ec2/home?region={region}#SecurityGroup:groupId={group_id}"


# What a subject line says first: failures, then what was (or would be) done.
SUBJECT_ORDER = (
    (Outcome.FAILED, "FAILED to revert {}"),
    (Outcome.RESTORE_FAILED, "FAILED to restore {}"),
    (Outcome.WOULD_REVERT, "would revert {}"),
    (Outcome.WOULD_RESTORE, "would restore {}"),
    (Outcome.REVERTED, "reverted {}"),
    (Outcome.RESTORED, "restored {}"),
    (Outcome.NOT_RESTORED, "did not restore {}"),
    (Outcome.UNREADABLE, "could not read {}"),
    (Outcome.CANNOT_CHANGE, "could not change {}"),
    (Outcome.ALREADY_GONE, "{} already gone"),
    (Outcome.ALREADY_PRESENT, "{} already back"),
    (Outcome.ALLOWED, "allowed {}"),
)


def tally_words(items: Sequence[Outcomed], limit: int = 2, noun: str = "rule") -> str:
    """The most important counts, e.g. "reverted 2 rules, restored 1 rule"."""
    counts = Counter(item.outcome for item in items)
    said = [template.format(plural(counts[outcome], noun)) for outcome, template in SUBJECT_ORDER if counts[outcome]]
    return ", ".join(said[:limit])


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls (newlines, tabs, escapes); Cf: format characters such
    # as bidi overrides that disguise text; Zl/Zp: Unicode line separators;
    # Zs: odd spaces; Cs: lone surrogates, which cannot even be encoded to
    # send; Co/Cn: private-use and unassigned code points.
    category = unicodedata.category(char)
    return category in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} or (category == "Zs" and char != " ")


# A duration in its two largest units: "14 s", "3 min 20 s", "2 h 5 min", "3 d 4 h".
DURATION_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def duration_words(seconds: float) -> str:
    """A number of seconds as a person reads it."""
    if seconds < 1:
        return "under 1 s"
    left = round(seconds)
    said: list[tuple[int, str]] = []
    for unit, size in DURATION_UNITS:
        count, left = divmod(left, size)
        if count or said:
            said.append((count, unit))
    return " ".join(f"{count} {unit}" for count, unit in said[:2] if count)


# What became of the groups taken off an interface, by its outcome's word (the email's and the chat's).
TAKING_OFF = {"would-revert": "would take", "cannot-change": "cannot take", "revert-failed": "could not take"}


def taken_off(word: str, groups: str) -> str:
    """`groups` taken off an interface, in the tense of what happened (or would): "took sg-1 off"."""
    return f"{TAKING_OFF.get(word, 'took')} {groups} off"
