"""The sweep at scale, and Cloud Custodian doing the same job: N guarded groups against moto's server on 127.0.0.1.

    .venv/bin/python -m bench.sweep [--sizes 100,1000,5000] [--modes internet,lockdown] [--repeats 3]
                                    [--no-custodian]

For each size, a fresh moto server is seeded over HTTP (not timed) with N
groups tagged sg-sentry=guard, each with an allowed rule. Then, on that one
server:

* internet mode: SSH is opened to the world on one group in ten, and the
  sweep runs once in a fresh Python process, as a Lambda invocation would;
  then the same rules are opened again and Cloud Custodian (bench/custodian.py)
  runs its equivalent policy once, also in a fresh process. Each runs
  `--repeats` times, in alternating order; the median run is shown.
* lockdown mode: every group is snapshotted into a baseline; then one group
  in ten gets that SSH rule (to revoke) and one in twenty loses its approved
  rule (to restore), none of it through an event; the sweep runs once.

moto's revokes answer as EC2's do, naming the rules revoked
(localaws/ec2_answers.py). Each child reports wall time, the AWS calls it
made (by operation, and the time inside them), and its peak memory. The
parent checks every outcome (every forbidden rule gone, every allowed rule
there) and prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from bench.custodian import C7N_VERSION, ensure_custodian, run_custodian
from bench.measure import Calls, empty_account, linear_moto, machine, peak_rss_mb
from localaws.server import REGION, local_aws

TAG = {"Key": "sg-sentry", "Value": "guard"}
FORBIDDEN_EVERY = 10  # one group in ten gets SSH open to the world
# Every group keeps an allowed rule (HTTPS from the internal network) and its default egress rule.
ALLOWED = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
FORBIDDEN = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
# What EventBridge hands the sweep function every SENTRY_SWEEP_MINUTES.
SCHEDULED_EVENT = {
    "version": "0",
    "id": "bench",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-23T09:00:00Z",
    "region": REGION,
    "resources": [],
    "detail": {},
}
ENV = {"SENTRY_MODE": "internet", "SENTRY_GROUP_TAG": "sg-sentry=guard", "SENTRY_DRY_RUN": "false"}


def seed(groups: int) -> tuple[str, list[str]]:
    """Create the topic and the groups, each with its allowed rule; return the topic and the group IDs."""
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="sg-sentry-bench")["TopicArn"]
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    spec = [{"ResourceType": "security-group", "Tags": [TAG]}]

    def one(number: int) -> str:
        group = ec2.create_security_group(
            GroupName=f"bench-{number}", Description="bench", VpcId=vpc, TagSpecifications=spec
        )["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ALLOWED])
        return str(group)

    # One at a time: moto's server is not safe for concurrent writes to one region.
    return str(topic), [one(number) for number in range(groups)]


def open_to_the_world(group_ids: list[str]) -> list[str]:
    """Open SSH to the world on one group in ten; return those groups."""
    ec2 = boto3.client("ec2", region_name=REGION)
    opened = [group for number, group in enumerate(group_ids) if number % FORBIDDEN_EVERY == 0]
    for group in opened:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[FORBIDDEN])
    return opened


def run_sweep() -> dict[str, Any]:
    """In a fresh process: sweep once, as the scheduled function would (what the child prints)."""
    calls = Calls(counting=True)
    started = time.perf_counter()
    from app import scheduled_sweep  # the import is part of a cold invocation

    imported = time.perf_counter()
    answer = scheduled_sweep(SCHEDULED_EVENT, None)
    wall = time.perf_counter() - started
    return {
        "answer": answer,
        "wall_seconds": wall,
        "import_seconds": imported - started,
        "calls": calls.counts,
        # Time spent inside each kind of call (the local AWS answering, and botocore): the rest is the sentry's.
        "call_seconds": calls.seconds,
        "max_rss_mb": peak_rss_mb(),
    }


def drift_from_a_baseline(path: str) -> tuple[list[str], list[str]]:
    """Snapshot every group into a baseline at `path`, then drift: SSH added to 10%, the approved rule removed
    from 5%. Return the groups given SSH and the groups that lost their approved rule."""
    from chalicelib.adapters import baseline_file
    from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
    from chalicelib.domain.baseline import Baseline
    from chalicelib.domain.policy import GroupScope
    from sentrycli.snapshot import snapshot

    ec2 = boto3.client("ec2", region_name=REGION)
    approved = snapshot(SecurityGroups(ec2, GroupCache()), GroupScope(tag_key=TAG["Key"]), REGION)
    baseline_file.save(Baseline().with_groups(approved, "bench"), Path(path))
    ids = sorted(group.group_id for group in approved)
    opened = open_to_the_world(ids)
    emptied = [group for number, group in enumerate(ids) if number % (2 * FORBIDDEN_EVERY) == 5]
    for group in emptied:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ALLOWED])
    return opened, emptied


def ports_left() -> tuple[int, int]:
    """How many SSH rules (forbidden) and HTTPS rules (allowed) the account has now."""
    pages = boto3.client("ec2", region_name=REGION).get_paginator("describe_security_group_rules").paginate()
    rules = [rule for page in pages for rule in page["SecurityGroupRules"]]
    ports = [rule.get("FromPort") for rule in rules]
    return ports.count(22), ports.count(443)


def checked(result: dict[str, Any], mode: str, groups: int, violating: int, rules_before: int) -> dict[str, Any]:
    """Label a run's result and judge the account it left: no SSH open, every group's HTTPS rule there."""
    still_open, allowed = ports_left()
    result.update(mode=mode, violating=violating, rules_before=rules_before)
    result.update(still_open=still_open, correct=still_open == 0 and allowed == groups)
    return result


def in_a_child(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    child = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{child.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    return result


def measure(groups: int, modes: list[str], custodian: Path | None, repeats: int = 3) -> list[dict[str, Any]]:
    """Seed `groups` groups once, then in turn: the sweep in internet mode and Cloud Custodian, each on the
    same forbidden rules opened again, `repeats` times; and the sweep in lockdown mode after a baseline and
    drift, once."""
    # Imported here: it loads moto's EC2 models, which the sweep's child must not carry in its memory.
    from localaws.ec2_answers import revokes_name_their_rules

    results: list[dict[str, Any]] = []
    with (
        local_aws() as endpoint,
        revokes_name_their_rules(),
        tempfile.TemporaryDirectory(prefix="sg-sentry-bench-") as folder,
    ):
        empty_account(endpoint)
        began = time.perf_counter()
        topic, group_ids = seed(groups)
        seeding = time.perf_counter() - began
        env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint, "SENTRY_TOPIC_ARN": topic}
        sweep = [sys.executable, "-m", "bench.sweep", "--child"]
        # The sentry and Custodian remediate the same groups, each with SSH open on the same one in ten.
        runs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        if "internet" in modes:
            runs.append(("internet", lambda: in_a_child(sweep, env)))
        if custodian is not None:
            runs.append(("custodian", lambda: run_custodian(custodian, endpoint, Path(folder))))
        # This machine's speed drifts from run to run by more than the difference between the two: each runs
        # `repeats` times, in alternating order, and the run with the median wall time is shown.
        tried: dict[str, list[dict[str, Any]]] = {}
        for number in range(repeats):
            for tool, run in runs if number % 2 == 0 else runs[::-1]:
                forbidden = open_to_the_world(group_ids)
                result = checked(run(), tool, groups, len(forbidden), rules_before=groups * 2 + len(forbidden))
                tried.setdefault(tool, []).append(result)
        for tool, _ in runs:
            walls = sorted(result["wall_seconds"] for result in tried[tool])
            median = next(result for result in tried[tool] if result["wall_seconds"] == walls[len(walls) // 2])
            median.update(walls=walls, correct=all(result["correct"] for result in tried[tool]))
            results.append(median)
        if "lockdown" in modes:
            path = str(Path(folder) / "baseline.json")
            forbidden, emptied = drift_from_a_baseline(path)
            result = in_a_child(sweep, env | {"SENTRY_MODE": "lockdown", "SENTRY_BASELINE_FILE": path})
            violating = len(set(forbidden) | set(emptied))
            # Allowed + default egress + forbidden - emptied.
            results.append(checked(result, "lockdown", groups, violating, groups * 2 + len(forbidden) - len(emptied)))
    for result in results:
        result.update(groups=groups, seeding_seconds=seeding)
        # Issue 5's target: ceil(rules / 1,000) pages read, plus one change per violating group.
        result["target_calls"] = math.ceil(result["rules_before"] / 1000) + result["violating"]
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| who | groups | violating | wall time | waiting on AWS | importing | own work "
        "| AWS calls (target) | by operation | peak memory | all correct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|:---:|",
    ]
    for r in results:
        calls = r["calls"]
        waiting = sum(r["call_seconds"].values())
        by_operation = ", ".join(f"{name} {count:,}" for name, count in sorted(calls.items()))
        own = r["wall_seconds"] - waiting - r["import_seconds"]
        who = "Cloud Custodian" if r["mode"] == "custodian" else f"sg-sentry, {r['mode']}"
        target = f" ({r['target_calls']:,})" if r["mode"] != "custodian" else ""
        lines.append(
            f"| {who} | {r['groups']:,} | {r['violating']:,} | {r['wall_seconds']:.1f} s | {waiting:.1f} s "
            f"| {r['import_seconds']:.2f} s | {own:.2f} s | {sum(calls.values()):,}{target} "
            f"| {by_operation} | {r['max_rss_mb']:.0f} MB | {'yes' if r['correct'] else 'NO'} |"
        )
    return "\n".join(lines)


def comparison(results: list[dict[str, Any]]) -> str:
    """The sweep (internet mode) against Cloud Custodian, size by size."""
    lines = [
        "| groups | sg-sentry sweep, median (all runs) | Cloud Custodian, median (all runs) | sg-sentry is faster by "
        "| AWS calls, sg-sentry : Custodian |",
        "|---:|---:|---:|---:|---:|",
    ]
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for r in results:
        by_size.setdefault(r["groups"], {})[r["mode"]] = r
    for size, runs in sorted(by_size.items()):
        if "internet" not in runs or "custodian" not in runs:
            continue
        ours, theirs = runs["internet"], runs["custodian"]
        lines.append(
            f"| {size:,} | {_walls(ours)} | {_walls(theirs)} "
            f"| {theirs['wall_seconds'] / ours['wall_seconds']:.2f}x "
            f"| {sum(ours['calls'].values()):,} : {sum(theirs['calls'].values()):,} |"
        )
    return "\n".join(lines)


def _walls(result: dict[str, Any]) -> str:
    runs = ", ".join(f"{wall:.1f}" for wall in result["walls"])
    return f"{result['wall_seconds']:.1f} s ({runs})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000", help="comma-separated group counts")
    parser.add_argument("--modes", default="internet,lockdown", help="comma-separated: internet, lockdown")
    parser.add_argument("--no-custodian", action="store_true", help="skip Cloud Custodian (and its install)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tool in internet mode (median shown)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_sweep()))
        return 0
    custodian = None if args.no_custodian else ensure_custodian()
    linear_moto()
    results = []
    modes = args.modes.split(",")
    for size in (int(part) for part in args.sizes.split(",")):
        print(f"{size:,} groups: seeding, then {', '.join(modes)} ...", file=sys.stderr, flush=True)
        results += measure(size, modes, custodian, args.repeats)
    print(machine())
    print(table(results))
    if custodian is not None:
        print(f"\nAgainst Cloud Custodian (c7n {C7N_VERSION}), same server, same groups, same rules:")
        print(comparison(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
