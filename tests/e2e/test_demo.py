"""`make demo` end to end: moto's server on 127.0.0.1, the handler, and the email SNS delivered."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SSH_WORLD = "tcp 22-22 from 0.0.0.0/0"


@pytest.fixture(scope="module")
def demo() -> str:
    """What `make demo` printed: it runs once for the module's tests."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "localaws.demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def between(text: str, start: str, end: str) -> str:
    """The part of `text` from `start` to `end` (both must be there, in order)."""
    after = text.split(start, 1)[1]
    assert end in after, f"{end!r} does not follow {start!r}"
    return after.split(end, 1)[0]


def test_the_demo_reverts_ssh_restores_a_deleted_approved_rule_and_shows_the_emails(demo: str) -> None:
    before, after = demo.split("4. Rules after", 1)
    assert SSH_WORLD in before
    assert SSH_WORLD not in after.split("5.", 1)[0]
    assert "tcp 443-443 from 10.20.0.0/16" in after
    assert "Subject: sg-sentry: reverted 1 rule on sg-" in after
    assert "REVERTED: lockdown mode" in after
    assert "http://127.0.0.1:" in demo
    # Act two: the baseline, a deletion no event reported, and the sweep.
    deleted, swept = after.split("7. Someone deletes", 1)[1].split("9. Rules after the sweep", 1)
    assert "tcp 443-443 from 10.20.0.0/16" not in deleted.split("8.", 1)[0]
    assert "tcp 443-443 from 10.20.0.0/16" in swept.split("10. [AWS", 1)[0]
    assert "Subject: sg-sentry sweep: restored 1 rule on 1 group in eu-west-1" in swept
    assert "RESTORED: approved in the baseline but missing from the group" in swept


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
    event_id = delivered["detail"]["eventID"]
    handled = between(act, "15. ", "16. ")
    assert re.search(rf'the handler answered \{{"outcome": "reverted", .*"account": "{member}"\}}', handled)
    # The member's CloudTrail names the event that made the sentry act, as moto's STS recorded the session.
    assert f"- role arn:aws:iam::{member}:role/sg-sentry-member, session sg-sentry-{event_id}" in handled
    # What moto holds afterwards in the member's group, read back with the member's credentials.
    rules_after = between(act, "16. Rules after", "17. ")
    assert place in rules_after and SSH_WORLD not in rules_after and "(none)" in rules_after
    email = act.split("17. ", 1)[1]
    assert re.search(rf"Subject: sg-sentry: reverted 1 rule on sg-[0-9a-f]+ \(build-agents\) in {member}\n", email)
    assert f"Account      {member} (developers)" in email
    assert "Region       us-east-1" in email
