"""One event, and a burst of them: the handler's cost next to the bare AWS calls its work needs.

    .venv/bin/python -m bench.event [--events 41] [--burst 1000]

Against moto's server on 127.0.0.1, in one warm process, as a warm Lambda
container would run them:

* per event: SSH opened to the world on a guarded group (set up, not timed),
  then the handler handles the event CloudTrail would deliver (timed). The
  baseline is the same revoke (by rule ID) and the same publish, issued
  directly with boto3 (timed). The two alternate, so drift in moto's speed
  falls on both. Guarded by ID, and again by tag (the group's tags cached).
  moto's revokes answer as EC2 does, naming the rules revoked
  (`localaws/ec2_answers.py`); one more row shows moto's own answer, on
  which the handler reads the group back to prove the revoke.
* burst: N events on N distinct groups, handled back to back.

The handler's ratio to the bare calls is its overhead: what it adds to the
two calls it cannot avoid (its own work, and the calls it makes beyond those
two, listed by operation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3

from bench.measure import Calls, empty_account, linear_moto, machine
from localaws import cloudtrail
from localaws.ec2_answers import revokes_name_their_rules
from localaws.server import REGION, local_aws

SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
TAG = {"Key": "sg-sentry", "Value": "guard"}
# How the revoke is answered: as EC2 does, naming the rules revoked (the sentry then reads nothing back),
# or as moto 5.2 does, with Return only (the sentry reads the group back to prove the revoke).
AS_EC2 = "names the rules (as EC2)"
RETURN_ONLY = "Return only (moto as is)"
SCOPES: tuple[tuple[str, Callable[[str], dict[str, str]], str], ...] = (
    ("by ID", lambda group: {"SENTRY_GROUP_IDS": group}, AS_EC2),
    ("by tag", lambda group: {"SENTRY_GROUP_TAG": "sg-sentry"}, AS_EC2),
    ("by ID", lambda group: {"SENTRY_GROUP_IDS": group}, RETURN_ONLY),
)


def opened(ec2: Any, group: str) -> dict[str, Any]:
    """Open SSH to the world on `group`; return the event EventBridge would deliver for it."""
    params = {"GroupId": group, "IpPermissions": [SSH]}
    _, created = cloudtrail.apply(ec2, "AuthorizeSecurityGroupIngress", **params)
    return cloudtrail.eventbridge(cloudtrail.record("AuthorizeSecurityGroupIngress", params, created, region=REGION))


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def per_event(ec2: Any, sns: Any, group: str, events: int, calls: Calls) -> dict[str, Any]:
    from chalicelib.usecases.handle_event import handle

    handled: list[float] = []
    own: list[float] = []
    bare: list[float] = []
    answers: list[dict[str, Any]] = []
    warm = handle(opened(ec2, group))  # warm: clients made, tags cached, as in a warm container
    assert warm["outcome"] == "reverted" and _ssh_rules(ec2, group) == [], warm
    calls.clear()
    for _ in range(events):
        event = opened(ec2, group)
        waited_before = calls.waited
        calls.counting = True
        handled.append(timed(lambda event=event: answers.append(handle(event))))  # type: ignore[misc]
        calls.counting = False
        own.append(handled[-1] - (calls.waited - waited_before))
        # The handler's own effect, read from the group (not timed) before the bare calls touch it.
        assert answers[-1]["outcome"] == "reverted", answers[-1]
        assert _ssh_rules(ec2, group) == [], "SSH is still open after the handler ran: it did not revert it"
        again = opened(ec2, group)
        rule_id = again["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"]

        def direct(rule_id: str = rule_id, message: dict[str, Any] = calls.last["Publish"]) -> None:
            # The revoke and the publish the work needs, and nothing else: the same report the handler sent.
            ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[rule_id])
            sns.publish(**message)

        bare.append(timed(direct))
    assert _ssh_rules(ec2, group) == [], "SSH is still open after the bare revoke"
    return {
        "handler_ms": statistics.median(handled) * 1000,
        # The handler's time outside AWS calls: reading, judging, reporting, logging.
        "own_ms": statistics.median(own) * 1000,
        "bare_ms": statistics.median(bare) * 1000,
        "calls_per_event": {name: count / events for name, count in sorted(calls.counts.items())},
    }


def _ssh_rules(ec2: Any, group: str) -> list[str]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return [r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if r.get("FromPort") == 22]


def burst(ec2: Any, vpc: str, size: int, calls: Calls) -> dict[str, Any]:
    from chalicelib.usecases.handle_event import handle

    spec = [{"ResourceType": "security-group", "Tags": [TAG]}]
    groups = [
        ec2.create_security_group(GroupName=f"burst-{n}", Description="burst", VpcId=vpc, TagSpecifications=spec)[
            "GroupId"
        ]
        for n in range(size)
    ]
    events = [opened(ec2, group) for group in groups]
    calls.clear()
    calls.counting = True
    elapsed = timed(lambda: [handle(event) for event in events])
    calls.counting = False
    still_open = sum(1 for group in groups if _ssh_rules(ec2, group))
    return {"events": size, "seconds": elapsed, "per_second": size / elapsed, "still_open": still_open}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=41, help="events timed per scope (median taken)")
    parser.add_argument("--burst", type=int, default=1000, help="events in the burst, on distinct groups")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    linear_moto()
    calls = Calls()
    results: dict[str, Any] = {}
    with local_aws() as endpoint:
        empty_account(endpoint)
        ec2, sns = boto3.client("ec2", region_name=REGION), boto3.client("sns", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        topic = sns.create_topic(Name="sg-sentry-bench")["TopicArn"]
        spec = [{"ResourceType": "security-group", "Tags": [TAG]}]
        group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc, TagSpecifications=spec)
        group_id = group["GroupId"]
        os.environ.update(SENTRY_TOPIC_ARN=topic, SENTRY_MODE="lockdown")
        for scope, setting, answer in SCOPES:
            os.environ.pop("SENTRY_GROUP_IDS", None)
            os.environ.pop("SENTRY_GROUP_TAG", None)
            os.environ.update(setting(group_id))
            print(f"timing {args.events} events, groups guarded {scope}, {answer} ...", file=sys.stderr, flush=True)
            with revokes_name_their_rules() if answer == AS_EC2 else contextlib.nullcontext():
                results[f"{scope}, {answer}"] = per_event(ec2, sns, group_id, args.events, calls)
        os.environ.pop("SENTRY_GROUP_IDS", None)
        os.environ["SENTRY_GROUP_TAG"] = "sg-sentry"
        print(f"a burst of {args.burst} events on distinct groups ...", file=sys.stderr, flush=True)
        with revokes_name_their_rules():
            results["burst"] = burst(ec2, vpc, args.burst, calls)
    print(machine())
    print(
        "| groups guarded | the revoke's answer | handler, median | of it, outside AWS calls "
        "| bare revoke + publish, median | ratio | AWS calls per event |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    for scope, _, answer in SCOPES:
        r = results[f"{scope}, {answer}"]
        per = ", ".join(f"{name} {count:g}" for name, count in r["calls_per_event"].items())
        ratio = r["handler_ms"] / r["bare_ms"]
        print(
            f"| {scope} | {answer} | {r['handler_ms']:.1f} ms | {r['own_ms']:.1f} ms | {r['bare_ms']:.1f} ms "
            f"| {ratio:.2f} | {per} |"
        )
    b = results["burst"]
    print(f"\nBurst: {b['events']} events on distinct groups in {b['seconds']:.1f} s = {b['per_second']:.1f} events/s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0 if b["still_open"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
