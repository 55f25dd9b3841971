"""The sweep at scale: N guarded groups, 10% with a forbidden rule, against moto's server on 127.0.0.1.

    .venv/bin/python -m bench.sweep [--sizes 100,1000,5000] [--modes internet,lockdown]

In `internet` mode one group in ten has SSH open to the world. In `lockdown`
mode every group is first snapshotted into a baseline; then one group in ten
gets that SSH rule (to revoke) and one in twenty loses its approved rule (to
restore), none of it through an event.

For each size, a fresh moto server is seeded over HTTP (not timed), then the
sweep runs once in a fresh Python process pointed at it, as a Lambda
invocation would: the child reports wall time, the AWS calls it made (by
operation), and its peak memory. The parent checks the outcome (every
forbidden rule gone, every allowed rule still there) and prints a Markdown
table for BENCHMARKS.md.
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
from pathlib import Path
from typing import Any

import boto3

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


def seed(groups: int, forbidden_too: bool = True) -> tuple[str, list[str]]:
    """Create the topic, the groups and their rules; return the topic and the groups given a forbidden rule."""
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="sg-sentry-bench")["TopicArn"]
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    spec = [{"ResourceType": "security-group", "Tags": [TAG]}]

    def one(number: int) -> str | None:
        group = ec2.create_security_group(
            GroupName=f"bench-{number}", Description="bench", VpcId=vpc, TagSpecifications=spec
        )["GroupId"]
        forbidden = forbidden_too and number % FORBIDDEN_EVERY == 0
        permissions = [ALLOWED, FORBIDDEN] if forbidden else [ALLOWED]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
        return str(group) if forbidden else None

    # One at a time: moto's server is not safe for concurrent writes to one region.
    return str(topic), [group for group in map(one, range(groups)) if group]


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
    from chalicelib import baseline
    from chalicelib.ec2 import GroupCache, SecurityGroups
    from chalicelib.policy import GroupScope
    from sentrycli.snapshot import snapshot

    ec2 = boto3.client("ec2", region_name=REGION)
    approved = snapshot(SecurityGroups(ec2, GroupCache()), GroupScope(tag_key=TAG["Key"]), REGION)
    baseline.save(baseline.Baseline().with_groups(approved, "bench"), Path(path))
    ids = sorted(group.group_id for group in approved)
    opened = [group for number, group in enumerate(ids) if number % FORBIDDEN_EVERY == 0]
    emptied = [group for number, group in enumerate(ids) if number % (2 * FORBIDDEN_EVERY) == 5]
    for group in opened:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[FORBIDDEN])
    for group in emptied:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ALLOWED])
    return opened, emptied


def measure(groups: int, mode: str = "internet") -> dict[str, Any]:
    with local_aws() as endpoint, tempfile.TemporaryDirectory(prefix="sg-sentry-bench-") as folder:
        empty_account(endpoint)
        started = time.perf_counter()
        topic, forbidden = seed(groups, forbidden_too=mode == "internet")
        emptied: list[str] = []
        env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint, "SENTRY_TOPIC_ARN": topic}
        if mode == "lockdown":
            path = str(Path(folder) / "baseline.json")
            forbidden, emptied = drift_from_a_baseline(path)
            env.update(SENTRY_MODE="lockdown", SENTRY_BASELINE_FILE=path)
        seeding = time.perf_counter() - started
        child = subprocess.run(
            [sys.executable, "-m", "bench.sweep", "--child"], env=env, capture_output=True, text=True, check=False
        )
        if child.returncode != 0:
            raise RuntimeError(f"the sweep failed:\n{child.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
        ec2 = boto3.client("ec2", region_name=REGION)
        pages = ec2.get_paginator("describe_security_group_rules").paginate()
        rules = [rule for page in pages for rule in page["SecurityGroupRules"]]
        still_open = sum(1 for rule in rules if rule.get("FromPort") == 22)
        allowed = sum(1 for rule in rules if rule.get("FromPort") == 443)
    violating = len(set(forbidden) | set(emptied))
    result.update(groups=groups, mode=mode, violating=violating, seeding_seconds=seeding)
    result.update(still_open=still_open, allowed_left=allowed)
    result["correct"] = still_open == 0 and allowed == groups
    # Allowed + default egress + forbidden - emptied.
    result["rules_before"] = groups * 2 + len(forbidden) - len(emptied)
    # What the issue asks for: ceil(rules / 1000) pages, plus one change per violating group.
    result["target_calls"] = math.ceil(result["rules_before"] / 1000) + violating
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | groups | violating | wall time | waiting on AWS | importing the app | the sentry's own work "
        "| AWS calls (target) | by operation | peak memory | all correct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|:---:|",
    ]
    for r in results:
        calls = r["calls"]
        waiting = sum(r["call_seconds"].values())
        by_operation = ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))
        own = r["wall_seconds"] - waiting - r["import_seconds"]
        lines.append(
            f"| {r['mode']} | {r['groups']:,} | {r['violating']:,} | {r['wall_seconds']:.1f} s | {waiting:.1f} s "
            f"| {r['import_seconds']:.2f} s | {own:.2f} s | {sum(calls.values()):,} ({r['target_calls']:,}) "
            f"| {by_operation} | {r['max_rss_mb']:.0f} MB | {'yes' if r['correct'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000", help="comma-separated group counts")
    parser.add_argument("--modes", default="internet,lockdown", help="comma-separated: internet, lockdown")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_sweep()))
        return 0
    linear_moto()
    results = []
    for mode in args.modes.split(","):
        for size in (int(part) for part in args.sizes.split(",")):
            print(f"sweeping {size:,} groups in {mode} mode ...", file=sys.stderr, flush=True)
            results.append(measure(size, mode))
    print(machine())
    print(table(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
