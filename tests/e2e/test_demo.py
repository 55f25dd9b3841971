"""`make demo` end to end: moto's server on 127.0.0.1, the handler, and the email SNS delivered."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localaws.demo import UNSET
from localaws.rehearse import project_copy

ROOT = Path(__file__).resolve().parents[2]
# Rules as the sentry writes them, in the demo's lists and in its reports alike.
SSH_WORLD = "tcp 22 from 0.0.0.0/0, ingress"
HTTPS_INSIDE = "tcp 443 from 10.20.0.0/16, ingress"
LOGS = "\nThe functions' log lines, one JSON object per line"
# The dev stage as a user leaves it after `sentry setup` and the README's steps: a real topic (not in moto), groups
# by ID instead of the tag, a dry run first, and a chat topic. The demo's story must not depend on any of it.
CONFIGURED = {
    "SENTRY_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:sg-sentry-dev",
    "SENTRY_GROUP_IDS": "sg-0123456789abcdef0",
    "SENTRY_DRY_RUN": "true",
    "SENTRY_CHAT_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:sg-sentry-chat",
    "SENTRY_BASELINE_TABLE": "sg-sentry-baseline",  # not in moto: the dev act keeps its baseline in a file
}


@dataclass(frozen=True)
class Run:
    output: str
    started: datetime
    ended: datetime


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    """What `make demo` printed, and when it ran, on a project whose dev stage is CONFIGURED: once for the module."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    with project_copy() as project:
        path = project / ".chalice" / "config.json"
        config = json.loads(path.read_text())
        dev = config["stages"]["dev"]["environment_variables"]
        del dev["SENTRY_GROUP_TAG"]
        dev.update(CONFIGURED)
        path.write_text(json.dumps(config, indent=2))
        started = datetime.now(UTC).replace(microsecond=0)
        command = [sys.executable, "-m", "localaws.demo", "--project-dir", str(project)]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        yield Run(result.stdout, started, datetime.now(UTC))


@pytest.fixture(scope="module")
def demo(run: Run) -> str:
    return run.output


def log_lines(text: str) -> list[dict[str, object]]:
    """The lines of `text` that are log lines: JSON objects with the log's keys."""
    found = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and {"time", "level", "message", "outcome"} <= value.keys():
            found.append(value)
    return found


def between(text: str, start: str, end: str) -> str:
    """The part of `text` from `start` to `end` (both must be there, in order)."""
    after = text.split(start, 1)[1]
    assert end in after, f"{end!r} does not follow {start!r}"
    return after.split(end, 1)[0]


def test_the_demo_reverts_ssh_restores_a_deleted_approved_rule_and_shows_the_emails(demo: str) -> None:
    before, after = demo.split("4. Rules after", 1)
    assert SSH_WORLD in before
    assert SSH_WORLD not in after.split("5.", 1)[0]
    assert HTTPS_INSIDE in after
    assert "Subject: sg-sentry: reverted 1 rule on sg-" in after
    assert "REVERTED: lockdown mode" in after
    assert "http://127.0.0.1:" in demo
    # Act two: the baseline, a deletion no event reported, and the sweep.
    deleted, swept = after.split("7. Someone deletes", 1)[1].split("9. Rules after the sweep", 1)
    assert HTTPS_INSIDE not in deleted.split("8.", 1)[0]
    assert HTTPS_INSIDE in swept.split("10. [AWS", 1)[0]
    assert "Subject: sg-sentry sweep: restored 1 rule on 1 group in eu-west-1" in swept
    assert "RESTORED: approved in the baseline but missing from the group" in swept


def test_the_demo_says_its_settings_and_runs_with_them_whatever_the_dev_stage_says(demo: str) -> None:
    # Printed once, before the story: the demo's topic and what its story needs, over each stage's own.
    (line,) = [line for line in demo.splitlines() if line.startswith("Settings: ")]
    (topic,) = re.findall(r"; topic (arn:aws:sns:eu-west-1:123456789012:sg-sentry-alerts)$", demo, re.MULTILINE)
    demos = f"SENTRY_TOPIC_ARN={topic}, SENTRY_GROUP_TAG=sg-sentry=guard, SENTRY_MODE=lockdown, SENTRY_DRY_RUN=false"
    unset = "; ".join(f"in {stage} no {' or '.join(names)}" for stage, names in UNSET.items())
    assert "in dev no SENTRY_GROUP_IDS or SENTRY_CHAT_TOPIC_ARN" in unset and "SENTRY_BASELINE_TABLE" in unset
    assert f"with the demo's over them: {demos}; {unset} (set aside: " in line
    aside = line.split("(set aside: ", 1)[1].removesuffix(")").split(", ")
    assert sorted(aside) == sorted(f"dev's {name}" for name in CONFIGURED)
    # The handler and the sweep ran with them: the demo's group guarded, reverted for real, the demo's topic only.
    assert "Subject: sg-sentry: reverted 1 rule on sg-" in between(demo, "5. [AWS", "6. ")
    assert "Subject: sg-sentry sweep: restored 1 rule" in between(demo, "10. [AWS", "11. ")
    logs = log_lines(demo.split(LOGS, 1)[1].split("\nstep 15:", 1)[0])
    notified = [str(line["message"]) for line in logs if line["outcome"] == "notified"]
    assert len(notified) == 2, notified
    assert all(re.fullmatch(rf"notified {topic} \(message [0-9a-f-]+\)", message) for message in notified), notified


def test_the_demo_prints_the_whole_event_it_delivers_stamped_with_its_own_clock(run: Run) -> None:
    act = run.output.split("\n11. ", 1)[0]
    # The demo hands the handler the very text it prints: the whole EventBridge envelope, the record inside.
    event = json.loads(between(act, "EventBridge delivers this event:", "\n\n3. "))
    assert event.keys() == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    record = event["detail"]
    assert (event["detail-type"], record["eventName"]) == (
        "AWS API Call via CloudTrail",
        "AuthorizeSecurityGroupIngress",
    )
    # The rule it names is the one opened in step 1, and the handler and the email speak of this very event.
    (created,) = record["responseElements"]["securityGroupRuleSet"]["items"]
    assert f"- {SSH_WORLD} [{created['securityGroupRuleId']}]" in between(act, "1. ", "2. ")
    assert f'"event_id": "{record["eventID"]}"' in between(act, "3. ", "4. ")
    logged = log_lines(run.output.split(LOGS, 1)[1].split("\nstep 8:", 1)[0])
    assert logged and {line["event_id"] for line in logged} == {record["eventID"]}
    email = between(act, "5. [AWS", "6. ")
    assert f"CloudTrail event ID  {record['eventID']}" in email
    # Its time is the run's own, and the email says when the change was made from it.
    when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert run.started <= when <= run.ended and event["time"] == record["eventTime"]
    assert f"When         {record['eventTime']}" in email


def test_ports_are_written_one_way_and_the_log_lines_follow_the_story(demo: str) -> None:
    assert "443-443" not in demo and "22-22" not in demo
    story, logs = demo.split(LOGS, 1)
    assert log_lines(story) == []
    written = log_lines(logs)
    # What the handler and the sweep logged: every step that ran a function, in order.
    assert re.findall(r"^step (\d+):$", logs, re.MULTILINE) == ["3", "8", "15"]
    assert {"reverted", "restored", "notified"} <= {str(line["outcome"]) for line in written}
    for step in ("3", "8", "15"):
        assert re.search(rf"\(\d+ log lines?, shown after the story under step {step}\)", story)


def test_act_three_reverts_a_member_accounts_change_from_the_central_deployment(demo: str) -> None:
    act = demo.split("\n11. ", 1)[1]
    # Organizations made the member account: its ID is the demo's to read.
    (member,) = re.findall(r"^   - (\d{12}) \(developers\), ACTIVE$", act, re.MULTILINE)
    place = f"in {member}/us-east-1"
    stack = between(act, "12. ", "13. ")
    assert f"role arn:aws:iam::{member}:role/sg-sentry-member" in stack
    opened = between(act, "13. ", "14. ")
    assert place in opened and SSH_WORLD in opened
    # EventBridge delivers it to the central handler with the member's account and region, as AWS does.
    delivered = json.loads(between(act, "the member's account and region:", "\n\n15. "))
    assert (delivered["account"], delivered["region"]) == (member, "us-east-1")
    assert delivered["detail"]["recipientAccountId"] == member
    assert delivered["detail"]["userIdentity"]["arn"] == f"arn:aws:sts::{member}:assumed-role/developer/dana"
    event_id = delivered["detail"]["eventID"]
    handled = between(act, "15. ", "16. ")
    assert re.search(rf'the handler answered \{{"outcome": "reverted", .*"account": "{member}"\}}', handled)
    # The member's CloudTrail names the event that made the sentry act, as moto's STS recorded the session.
    assert f"- role arn:aws:iam::{member}:role/sg-sentry-member, session sg-sentry-{event_id}" in handled
    # What moto holds afterwards in the member's group, read back with the member's credentials.
    rules_after = between(act, "16. Rules after", "17. ")
    assert place in rules_after and SSH_WORLD not in rules_after and "(none)" in rules_after
    email = act.split("17. ", 1)[1].split(LOGS, 1)[0]
    assert re.search(rf"Subject: sg-sentry: reverted 1 rule on sg-[0-9a-f]+ \(build-agents\) in {member}\n", email)
    assert f"Account      {member} (developers)" in email
    assert "Region       us-east-1" in email
    assert f"When         {delivered['detail']['eventTime']}" in email
