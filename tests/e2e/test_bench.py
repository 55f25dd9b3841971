"""The sweep benchmark still runs and still checks its own outcome (tiny sizes: speed is BENCHMARKS.md's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sweep_benchmark_runs_both_modes_and_finds_every_outcome_correct() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.sweep", "--sizes", "20"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith(("| internet", "| lockdown"))]
    assert len(rows) == 2 and all(row.endswith("| yes |") for row in rows), result.stdout
    assert "RevokeSecurityGroupIngress 2" in rows[0]  # 2 of 20 groups had SSH open to the world
    assert "AuthorizeSecurityGroupIngress 1" in rows[1]  # and in lockdown, 1 of 20 lost its approved rule


def test_the_event_benchmark_runs_and_the_burst_leaves_nothing_open() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.event", "--events", "3", "--burst", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]  # non-zero when a burst event left SSH open
    rows = [line for line in result.stdout.splitlines() if line.startswith(("| by ID", "| by tag"))]
    assert len(rows) == 2 and all("RevokeSecurityGroupIngress 1" in row for row in rows), result.stdout
    assert "Burst: 5 events on distinct groups" in result.stdout


def test_the_cold_start_benchmark_runs_and_reports_the_package() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.cold", "--runs", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]  # each sentry run asserts it reverted the rule
    assert "| ratio |" in result.stdout and "Deployment package: " in result.stdout
