"""`make demo` end to end: moto's server on 127.0.0.1, the handler, and the email SNS delivered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_reverts_ssh_restores_a_deleted_approved_rule_and_shows_the_emails() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "localaws.demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    before, after = out.split("4. Rules after", 1)
    assert "tcp 22-22 from 0.0.0.0/0" in before
    assert "tcp 22-22 from 0.0.0.0/0" not in after.split("5.", 1)[0]
    assert "tcp 443-443 from 10.20.0.0/16" in after
    assert "Subject: sg-sentry: reverted 1 rule on sg-" in after
    assert "REVERTED: lockdown mode" in after
    assert "http://127.0.0.1:" in out
    # Act two: the baseline, a deletion no event reported, and the sweep.
    deleted, swept = after.split("7. Someone deletes", 1)[1].split("9. Rules after the sweep", 1)
    assert "tcp 443-443 from 10.20.0.0/16" not in deleted.split("8.", 1)[0]
    assert "tcp 443-443 from 10.20.0.0/16" in swept.split("10. [AWS", 1)[0]
    assert "Subject: sg-sentry sweep: restored 1 rule on 1 group in eu-west-1" in swept
    assert "RESTORED: approved in the baseline but missing from the group" in swept
