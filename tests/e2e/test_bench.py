"""The benchmarks still run and still check their own outcomes (tiny sizes: speed is BENCHMARKS.md's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m bench.MODULE ARGS` as `make bench` does; fail on a non-zero exit."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    command = [sys.executable, "-m", f"bench.{module}", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_the_sweep_benchmark_runs_both_modes_and_custodian_and_finds_every_outcome_correct() -> None:
    # Builds Cloud Custodian's own venv (.bench/c7n, from PyPI) on first use, as `make bench` does.
    out = bench("sweep", "--sizes", "20", "--repeats", "2").stdout
    rows = [line for line in out.splitlines() if line.startswith(("| sg-sentry", "| Cloud Custodian"))]
    assert len(rows) == 3 and all(row.endswith("| yes |") for row in rows), out
    internet, custodian, lockdown = rows
    # 2 of 20 groups had SSH open to the world, for each tool in turn.
    assert "RevokeSecurityGroupIngress 2" in internet and "RevokeSecurityGroupIngress 2" in custodian
    assert "AuthorizeSecurityGroupIngress 1" in lockdown  # and in lockdown, 1 of 20 lost its approved rule
    assert any(line.startswith("| 20 | ") and "x |" in line for line in out.splitlines()), out  # the comparison


def test_the_event_benchmark_runs_and_the_burst_leaves_nothing_open() -> None:
    # The run exits non-zero when a burst event left SSH open.
    out = bench("event", "--events", "3", "--burst", "5").stdout
    rows = [line for line in out.splitlines() if line.startswith(("| by ID", "| by tag"))]
    assert len(rows) == 3 and all("RevokeSecurityGroupIngress 1" in row for row in rows), out
    # The handler reads the group back only when the revoke's answer does not name the rule.
    assert ["DescribeSecurityGroupRules" in row for row in rows] == [False, False, True], out
    assert "Burst: 5 events on distinct groups" in out


def test_the_cold_start_benchmark_runs_and_reports_the_package() -> None:
    # Each sentry run asserts, inside the child, that it reverted the rule.
    out = bench("cold", "--runs", "1").stdout
    assert "| ratio |" in out and "Deployment package: " in out
