"""The benchmarks still run and still check their own outcomes (tiny sizes: speed is BENCHMARKS.md's)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The tiny organization's regions (bench.organization --regions).
REGION_PAIR = ("eu-west-1", "us-east-1")


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


def test_the_event_benchmark_runs_and_the_burst_leaves_nothing_open(tmp_path: Path) -> None:
    # The run exits non-zero when a burst event left SSH open, and fails when the handler left it open.
    figures = tmp_path / "event.json"
    out = bench("event", "--events", "3", "--burst", "5", "--json", str(figures)).stdout
    result = json.loads(figures.read_text())
    for scope, timed in result.items():
        if scope != "burst":  # real timings: the handler's own share of its time, and the bare calls' time
            assert 0 < timed["own_ms"] < timed["handler_ms"] and timed["bare_ms"] > 0, (scope, timed)
    assert result["burst"]["events"] == 5 and result["burst"]["still_open"] == 0 and result["burst"]["seconds"] > 0
    rows = [line for line in out.splitlines() if line.startswith(("| by ID", "| by tag"))]
    assert len(rows) == 3 and all("RevokeSecurityGroupIngress 1" in row for row in rows), out
    # The handler reads the group back only when the revoke's answer does not name the rule.
    assert ["DescribeSecurityGroupRules" in row for row in rows] == [False, False, True], out
    assert "Burst: 5 events on distinct groups" in out


def test_the_cold_start_benchmark_runs_and_reports_the_package(tmp_path: Path) -> None:
    # Each sentry run asserts, inside the child, that it reverted the rule; the bench reads the group after each.
    figures = tmp_path / "cold.json"
    out = bench("cold", "--runs", "2", "--json", str(figures)).stdout
    result = json.loads(figures.read_text())
    # The sentry really started and handled the event, from each package: what its handler returned, once per run.
    assert [(answer["outcome"], answer["rules"]) for answer in result["answers"]] == [("reverted", {"reverted": 1})] * 4
    # Real timings: two runs each, positive, the work inside a process shorter than the time to its answer, which
    # is shorter than the process, and CPU used.
    for who in ("sentry", "source", "recipe"):
        runs = result["runs"][who]
        assert len(runs) == 2, (who, runs)
        assert all(0 < inside < answer < whole and cpu > 0 for whole, answer, inside, cpu in runs), (who, runs)
    # The table shows those medians, and the packages that were measured.
    medians = {
        who: [statistics.median(run[i] for run in result["runs"][who]) for i in range(4)] for who in result["runs"]
    }
    sentry_row = next(line for line in out.splitlines() if line.startswith("| the sentry, shipped bytecode: "))
    assert sentry_row.endswith(" | ".join(f"{value * 1000:.0f} ms" for value in medians["sentry"]) + " |")
    for who, label in (("sentry", "shipped bytecode"), ("source", "without the bytecode")):
        ratio = medians[who][0] / medians["recipe"][0]
        assert f"| ratio, {label} | {ratio:.2f} |" in out, out
    shipped, source = result["packages"]["bytecode"], result["packages"]["source"]
    assert shipped["bytecode"] > 0 and "bytecode" not in source and shipped["bytes"] > source["bytes"] > 0
    assert f"Deployment package with its bytecode: {shipped['bytes']:,} bytes (" in out, out
    assert f"Deployment package without it: {source['bytes']:,} bytes (" in out, out


def test_the_organization_benchmark_sweeps_every_account_region_each_way_and_finds_every_outcome_correct(
    tmp_path: Path,
) -> None:
    # A tiny organization (the full one is `make bench`'s): 2 accounts x 2 regions x 10 groups, 1 violating each.
    figures = tmp_path / "organization.json"
    out = bench(
        "organization", "--accounts", "2", "--regions", ",".join(REGION_PAIR), "--groups", "10",
        "--workers", "2", "--json", str(figures),
    ).stdout  # fmt: skip
    results = {result["who"]: result for result in json.loads(figures.read_text())}
    assert list(results) == ["floor", "serial", "queue, 2", "c7n-org, 2"]
    assert [who for who, result in results.items() if not result["correct"]] == [], out
    places = sorted(f"{account}/{region}" for account in ("123456789012", "200000000001") for region in REGION_PAIR)
    for who, result in results.items():
        swept = places if who != "floor" else ["123456789012/eu-west-1"]
        # Every rule opened was revoked, by one revoke each, and each account-region was swept exactly once.
        assert result["violating"] == len(swept) and result["still_open"] == 0, who
        assert result["calls"]["RevokeSecurityGroupIngress"] == len(swept), who
        assert sorted(result["swept"]) == swept and sorted(result["ec2_by_place"]) == swept, who
    for who in ("serial", "queue, 2"):  # one summary for the round, naming all four
        assert results[who]["published"] == ["sg-sentry sweep: found something in 4 of 4 account-regions"], who
    queued = results["queue, 2"]
    assert queued["answer"] == {"outcome": "queued", "round": queued["answer"]["round"], "places": 4}
    assert len(queued["per_worker"]) == 2 and sum(queued["per_worker"]) == 4
    assert queued["poller"]["DeleteMessage"] == 4 and queued["left_on_queues"] == 0
    # c7n-org entered every account-region through its role, in at most two pool processes.
    custodian = results["c7n-org, 2"]
    assert custodian["calls"]["AssumeRole"] == 4 and 1 <= custodian["processes"] <= 2
    assert custodian["matched_groups"] == 4 and custodian["published"] == []
    rows = [line for line in out.splitlines() if line.startswith(("| sg-sentry", "| c7n-org"))]
    # The table of runs, then each but the floor against it.
    assert len(rows) == 4 + 3 and all(row.endswith("| yes |") for row in rows[:4]), out
    assert "Against the floor (4 calls," in out, out


def test_the_organization_benchmark_reports_a_wrong_run_as_wrong() -> None:
    from bench.organization import judged

    places = ["123456789012/eu-west-1", "200000000001/eu-west-1"]
    good = {
        "still_open": 0,
        "allowed_kept": True,
        "swept": list(places),
        "violating": 2,
        "published": ["sg-sentry sweep: found something in 2 of 2 account-regions"],
    }
    assert judged(dict(good), places, summary_expected=1)["correct"]
    wrong = [
        {"still_open": 1},
        {"allowed_kept": False},
        {"swept": places[:1]},
        {"swept": [*places, places[0]]},  # one account-region swept twice
        {"failures": ["a worker raised"]},
        {"left_on_queues": 1},
        {"published": []},
        {"published": ["sg-sentry sweep: found something in 1 of 2 account-regions"]},
        {"matched_groups": 1},
    ]
    for change in wrong:
        result = judged(good | change, places, summary_expected=1)
        assert not result["correct"] and result["problems"], change
