"""Sweeping an organization (issue 13): every account and region, serially and fanned out, and c7n-org.

    .venv/bin/python -m bench.organization [--accounts 20] [--regions eu-west-1,us-east-1,us-west-2]
                                           [--groups 500] [--workers 1,4,8] [--no-custodian] [--json FILE]

One moto server on 127.0.0.1, run in this process, holds the organization:
the deployment's own account and the members (20 accounts in all), in each
region N groups tagged sg-sentry=guard, each with an allowed rule (HTTPS
from 10.0.0.0/8) and its default egress rule. The groups are written into
moto's backends directly, as its server would write them (not timed: over
HTTP 30,000 groups would take a quarter of an hour); the run reads one
member's groups back over HTTP before anything is measured. Then, on that
one server, each run in fresh processes as Lambda would start them:

* the floor: one account-region (the deployment's own, its home region)
  swept as a single-account deployment's schedule sweeps it (what
  `app.scheduled_sweep` runs: `scheduled_round` without SENTRY_ACCOUNTS or
  SENTRY_REGIONS, which is the single-account `sweep`);
* serial: one process, `fan_out.sweep_round` over every account-region in
  turn (SENTRY_ACCOUNTS the accounts, SENTRY_REGIONS the regions): the
  schedule's round without a queue, and `sentry sweep`;
* through the queue, with N workers: `fan_out.scheduled_round` in one
  process (SENTRY_SWEEP_QUEUE, SENTRY_BASELINE_TABLE) opens the round and
  queues a message per account-region; then N worker processes, each as
  Lambda's SQS poller with a batch of one: receive a message, call
  `sweep_message(body, attempt)`, delete the message; until none is left;
* Cloud Custodian's c7n-org (bench/custodian.py), bench/sweep.py's policy in
  every account and region, its pool of N processes (C7N_ORG_PARALLEL).

Before each run SSH is opened to the world on one group in ten of every
account-region it covers; after it the parent reads moto's state. **All
correct** means: no SSH rule left, every HTTPS rule kept, every
account-region swept exactly once, no message left on the queue, and (the
sentry) exactly one summary published, saying it found something in every
account-region. Each process counts its AWS calls by operation
(`bench.measure.Calls`), and its EC2 calls by the account and region they
went to; the parent adds them up and prints Markdown tables for
BENCHMARKS.md. moto's server runs in this process: its CPU time during a
run is this process's; the CPU the machine's other processes took meanwhile
is measured too (the machine has 2 CPUs, and is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bench.custodian import C7N_ORG_VERSION, ensure_custodian, run_custodian_org
from bench.measure import Calls, empty_account, linear_moto, machine, peak_rss_mb

# The central deployment's region (localaws.server.REGION): its topic, queue and table are there. Not imported
# from there: localaws.server imports moto's server, which the children, the sentry's processes, must not load.
HOME = "eu-west-1"
CENTRAL = "123456789012"  # moto's own account: the deployment's credentials act there
REGIONS = ("eu-west-1", "us-east-1", "us-west-2")
TAG_KEY, TAG_VALUE = "sg-sentry", "guard"
FORBIDDEN_EVERY = 10  # one group in ten of every account-region gets SSH open to the world
MEMBER_ROLE = "sg-sentry-member"  # moto lets any role be assumed: no role needs creating
QUEUE = "sg-sentry-sweep"
TABLE = "sg-sentry-baseline"
# The central template's queue: a worker's visibility of six times its 300 s, three receives before the DLQ.
VISIBILITY_SECONDS = 1800
ENV = {"SENTRY_MODE": "internet", "SENTRY_GROUP_TAG": f"{TAG_KEY}={TAG_VALUE}", "SENTRY_DRY_RUN": "false"}
# Lambda's SQS poller receives and deletes the worker's messages: its calls, not the app's.
POLLER = ("ReceiveMessage", "DeleteMessage")
CHILD_TIMEOUT = 1800


def org_accounts(count: int) -> list[str]:
    """The deployment's own account and `count - 1` members."""
    return [CENTRAL] + [f"{200000000000 + number:012d}" for number in range(1, count)]


def places_of(accounts: list[str], regions: list[str]) -> list[str]:
    return sorted(f"{account}/{region}" for account in accounts for region in regions)


# --- The organization in moto's server ----------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """One account-region's guarded groups, as moto holds them."""

    account: str
    region: str
    vpc_id: str
    ids: tuple[str, ...]

    def backend(self) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.account][self.region]

    def groups(self) -> list[Any]:
        """moto's own records of the seeded groups (the VPC's default group is not one)."""
        ids = set(self.ids)
        return [group for group in self.backend().groups[self.vpc_id].values() if group.id in ids]


# moto's models take the ports as its server's parser hands them over, ints (its annotations say str).
HTTPS: Any = 443
SSH: Any = 22


def seed(places: list[str], groups: int) -> dict[str, Seeded]:
    """Write `groups` guarded groups into each place, each with its allowed rule, as moto's server would."""
    from moto.ec2.models import ec2_backends

    seeded: dict[str, Seeded] = {}
    for place in places:
        account, region = place.split("/")
        backend = ec2_backends[account][region]
        vpc = backend.create_vpc("10.0.0.0/16")
        ids = []
        for number in range(groups):
            group = backend.create_security_group(
                f"bench-{number}", "bench", vpc_id=vpc.id, tags={TAG_KEY: TAG_VALUE}, force=True
            )
            backend.authorize_security_group_ingress(group.id, "tcp", HTTPS, HTTPS, [{"CidrIp": "10.0.0.0/8"}])
            ids.append(group.id)
        seeded[place] = Seeded(account, region, vpc.id, tuple(ids))
    return seeded


def read_back_over_http(place: str, ids: tuple[str, ...]) -> None:
    """The seeded groups as anyone reads them over HTTP: guarded, each with its allowed rule; else raise."""
    from localaws.server import in_account  # here: the benchmark's children must not load moto's server

    account, region = place.split("/")
    ec2 = in_account(account, region, role="bench-admin").client("ec2")
    found = ec2.describe_security_groups(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [TAG_VALUE]}])
    groups = {group["GroupId"]: group for group in found["SecurityGroups"]}
    https = [(p["FromPort"], p["IpRanges"]) for group in groups.values() for p in group["IpPermissions"]]
    if sorted(groups) != sorted(ids) or https != [(443, [{"CidrIp": "10.0.0.0/8"}])] * len(ids):
        raise RuntimeError(f"{place}: the seeded groups do not read back as created")


def open_to_the_world(seeded: dict[str, Seeded], places: list[str]) -> int:
    """Open SSH to the world on one group in ten of each of `places`; how many rules were opened."""
    opened = 0
    for place in places:
        backend = seeded[place].backend()
        for group in seeded[place].ids[::FORBIDDEN_EVERY]:
            backend.authorize_security_group_ingress(group, "tcp", SSH, SSH, [{"CidrIp": "0.0.0.0/0"}])
            opened += 1
    return opened


def close_what_was_left(seeded: dict[str, Seeded]) -> None:
    """Revoke every SSH rule a failed run left open, so that the next run starts as the others did."""
    for place in seeded.values():
        for group in place.groups():
            if any(rule.from_port == SSH for rule in group.ingress_rules):
                place.backend().revoke_security_group_ingress(group.id, "tcp", SSH, SSH, [{"CidrIp": "0.0.0.0/0"}])


def rules_left(seeded: dict[str, Seeded]) -> tuple[int, int]:
    """SSH rules (forbidden) and HTTPS rules (allowed) on the seeded groups of every place, as moto holds them."""
    ports = [rule.from_port for place in seeded.values() for group in place.groups() for rule in group.ingress_rules]
    return ports.count(SSH), ports.count(HTTPS)


def central_resources() -> dict[str, str]:
    """The central deployment's topic, sweep queue (with its dead-letter queue) and table, in its home region."""
    topic = boto3.client("sns", region_name=HOME).create_topic(Name="sg-sentry-bench")["TopicArn"]
    sqs = boto3.client("sqs", region_name=HOME)
    dlq = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    attributes = {"VisibilityTimeout": str(VISIBILITY_SECONDS), "RedrivePolicy": redrive}
    queue = sqs.create_queue(QueueName=QUEUE, Attributes=attributes)["QueueUrl"]
    boto3.client("dynamodb", region_name=HOME).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "place", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "place", "AttributeType": "S"},
            {"AttributeName": "item", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"topic": topic, "queue": queue, "dlq": dlq}


def messages_left(url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = boto3.client("sqs", region_name=HOME).get_queue_attributes(QueueUrl=url, AttributeNames=names)
    return sum(int(found["Attributes"][name]) for name in names)


def subjects(topic: str) -> list[str]:
    """The subject of every message published to the topic so far."""
    from moto.sns.models import sns_backends

    return [str(subject) for _, _, subject, *_ in sns_backends[CENTRAL][HOME].topics[topic].sent_notifications]


@contextmanager
def atomic_moto() -> Iterator[None]:
    """Make moto's server as atomic as the services are, for concurrent workers; its answers stay the same.

    DynamoDB applies a conditional write or an `ADD` counter update
    atomically, and SQS hands a message to one receiver until its visibility
    timeout. moto's threaded server reads and writes its models from
    several request threads with no lock: two workers counting a round down
    at once could lose a count (the round would never end), and two
    receives at once could both take one message. Here each of those calls
    takes one lock. (EC2 needs none: no two workers sweep one account-region.)
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import SQSBackend

    lock = threading.Lock()
    patched: list[tuple[type, str]] = [(DynamoDBBackend, name) for name in ("put_item", "update_item")]
    patched += [(SQSBackend, name) for name in ("receive_message", "delete_message")]
    with ExitStack() as stack:
        for owner, name in patched:
            original = owner.__dict__[name]
            setattr(owner, name, _locked(original, lock))
            stack.callback(setattr, owner, name, original)
        yield


def _locked(method: Callable[..., Any], lock: threading.Lock) -> Callable[..., Any]:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked


# --- The children: the sentry's processes, counting their calls --------------------------------------


class PlaceCalls:
    """On top of `Calls`: while it counts, the EC2 calls by the account and region they went to."""

    def __init__(self, calls: Calls) -> None:
        import botocore.client

        self.ec2: dict[tuple[str, str], int] = {}
        send = botocore.client.BaseClient._make_api_call

        def counted(client: Any, operation: str, params: Any) -> Any:
            if calls.counting and client.meta.service_model.service_name == "ec2":
                key = (client._request_signer._credentials.access_key, client.meta.region_name)
                self.ec2[key] = self.ec2.get(key, 0) + 1
            return send(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted

    def by_place(self) -> dict[str, int]:
        """EC2 calls by ACCOUNT/REGION: a member's by the credentials the sentry assumed there."""
        from chalicelib.adapters import members

        accounts = {made.access_key_id: made.account for made in members._cache.values()}
        found: dict[str, int] = {}
        for (key, region), count in self.ec2.items():
            place = f"{accounts.get(key, CENTRAL)}/{region}"
            found[place] = found.get(place, 0) + count
        return found


def measured(calls: Calls, places: PlaceCalls, began: float, imported: float, **more: Any) -> dict[str, Any]:
    return {
        "wall_seconds": time.perf_counter() - began,
        "import_seconds": imported - began,
        "calls": calls.counts,
        "call_seconds": calls.seconds,
        "ec2_by_place": places.by_place(),
        "max_rss_mb": peak_rss_mb(),
        **more,
    }


def floor_child() -> dict[str, Any]:
    """A single-account deployment's scheduled sweep: its own account, its own region (what `app.scheduled_sweep`
    runs; bench/sweep.py's child runs it through Chalice, but imports moto's server on the way)."""
    calls = Calls(counting=True)
    places = PlaceCalls(calls)
    began = time.perf_counter()
    from chalicelib.usecases.fan_out import scheduled_round

    imported = time.perf_counter()
    answer = scheduled_round(dict(os.environ))
    return measured(calls, places, began, imported, answer=answer, swept=[f"{CENTRAL}/{HOME}"])


def serial_child() -> dict[str, Any]:
    """One process: every account-region in turn, one summary (what the child prints)."""
    calls = Calls(counting=True)
    places = PlaceCalls(calls)
    began = time.perf_counter()
    from chalicelib.usecases.fan_out import sweep_round

    imported = time.perf_counter()
    result = sweep_round(dict(os.environ), region=HOME)
    found = [place.summary for place in result.places]
    return measured(calls, places, began, imported, swept=[str(p.place) for p in result.places], found=found)


def schedule_child() -> dict[str, Any]:
    """The schedule's invocation: open the round and queue one message per account-region."""
    calls = Calls(counting=True)
    places = PlaceCalls(calls)
    began = time.perf_counter()
    from chalicelib.usecases.fan_out import scheduled_round

    imported = time.perf_counter()
    answer = scheduled_round(dict(os.environ))
    return measured(calls, places, began, imported, answer=answer)


def worker_child(queue_url: str) -> dict[str, Any]:
    """A worker, fed as Lambda's SQS poller feeds it (batch of one), until the queue has nothing for it."""
    calls = Calls(counting=False)
    places = PlaceCalls(calls)
    began = time.perf_counter()
    from chalicelib.usecases.fan_out import sweep_message

    imported = time.perf_counter()
    poller = boto3.client("sqs", region_name=HOME)  # Lambda's, not the app's: not counted as the app's calls
    env = dict(os.environ)
    swept: list[str] = []
    failures: list[str] = []
    polled = dict.fromkeys(POLLER, 0)
    while True:
        polled["ReceiveMessage"] += 1
        answer = poller.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["ApproximateReceiveCount"]
        )
        if not answer.get("Messages"):
            break
        (message,) = answer["Messages"]
        calls.counting = True
        try:
            findings = sweep_message(message["Body"], int(message["Attributes"]["ApproximateReceiveCount"]), env)
        except Exception as error:  # Lambda would leave the message for SQS to deliver again: the run fails
            failures.append(f"{message['Body']}: {type(error).__name__}: {error}")
            continue
        finally:
            calls.counting = False
        swept.append(str(findings.place) if findings is not None else "unreadable")
        polled["DeleteMessage"] += 1
        poller.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return measured(calls, places, began, imported, swept=swept, failures=failures, poller=polled)


# --- The parent: the runs, each judged on what moto holds afterwards --------------------------------


class Organization:
    """The seeded organization, its central resources, and how to run and judge the sentry against it."""

    def __init__(self, accounts: list[str], regions: list[str], groups: int, endpoint: str) -> None:
        self.accounts, self.regions, self.groups = accounts, regions, groups
        self.places = places_of(accounts, regions)
        began = time.perf_counter()
        self.seeded = seed(self.places, groups)
        self.central = central_resources()
        read_back_over_http(self.places[-1], self.seeded[self.places[-1]].ids)
        self.seeding_seconds = time.perf_counter() - began
        self.endpoint = endpoint
        self.env = {
            **os.environ,
            **ENV,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": HOME,
            "SENTRY_TOPIC_ARN": self.central["topic"],
        }
        self.round_env = self.env | {"SENTRY_ACCOUNTS": ",".join(accounts), "SENTRY_REGIONS": ",".join(regions)}

    def run(self, who: str, places: list[str], go: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Open the forbidden rules in `places`, run `go` timed (with the CPU moto and the children took), judge."""
        close_what_was_left(self.seeded)
        opened = open_to_the_world(self.seeded, places)
        if rules_left(self.seeded) != (opened, len(self.places) * self.groups):  # the judge below must see them
            raise RuntimeError(f"opened {opened} SSH rules, but moto holds {rules_left(self.seeded)} (SSH, HTTPS)")
        published = len(subjects(self.central["topic"]))
        cpu, children, busy = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN), busy_cpu_seconds()
        began = time.perf_counter()
        result = go()
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        moto = time.process_time() - cpu
        clients = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        result.update(
            who=who,
            places=len(places),
            violating=opened,
            wall_seconds=wall,
            moto_cpu_seconds=moto,
            children_cpu_seconds=clients,
            # The machine's other processes (other people's tests): the cores they kept busy, on average.
            others_cores=max(0.0, busy_cpu_seconds() - busy - moto - clients) / wall,
            published=subjects(self.central["topic"])[published:],
        )
        still_open, allowed = rules_left(self.seeded)
        result.update(still_open=still_open, allowed_kept=allowed == len(self.places) * self.groups)
        return result

    def child(self, mode: str, env: dict[str, str], *args: str) -> Child:
        return Child([sys.executable, "-m", "bench.organization", "--child", mode, *args], env)

    def floor(self) -> dict[str, Any]:
        """One account-region (the deployment's own, at home) swept as a single-account deployment does."""
        home = f"{CENTRAL}/{HOME}"

        result = self.run("floor", [home], lambda: self.child("floor", self.env).answer())
        return judged(result, [home], summary_expected=1)

    def serial(self) -> dict[str, Any]:
        result = self.run("serial", self.places, lambda: self.child("serial", self.round_env).answer())
        return judged(result, self.places, summary_expected=1)

    def queued(self, workers: int) -> dict[str, Any]:
        env = self.round_env | {"SENTRY_SWEEP_QUEUE": QUEUE, "SENTRY_BASELINE_TABLE": TABLE}

        def go() -> dict[str, Any]:
            began = time.perf_counter()
            scheduled = self.child("schedule", env).answer()
            queued_at = time.perf_counter() - began
            running = [self.child("worker", env, self.central["queue"]) for _ in range(workers)]
            done = [worker.answer() for worker in running]
            return combined([scheduled, *done]) | {
                "queueing_seconds": queued_at,
                "answer": scheduled["answer"],
                "workers": workers,
                "swept": [place for worker in done for place in worker["swept"]],
                "failures": [failure for worker in done for failure in worker["failures"]],
                "poller": {op: sum(worker["poller"][op] for worker in done) for op in POLLER},
                "per_worker": [len(worker["swept"]) for worker in done],
            }

        result = self.run(f"queue, {workers}", self.places, go)
        result["left_on_queues"] = messages_left(self.central["queue"]) + messages_left(self.central["dlq"])
        return judged(result, self.places, summary_expected=1)

    def custodian(self, python: Path, folder: Path, processes: int) -> dict[str, Any]:
        def go() -> dict[str, Any]:
            ran = run_custodian_org(python, self.endpoint, folder, self.accounts, self.regions, MEMBER_ROLE, processes)
            calls = dict(ran["calls"])
            for task in ran["tasks"]:
                for op, count in task["calls"].items():
                    calls[op] = calls.get(op, 0) + count
            ec2 = {
                task["place"]: sum(
                    n for op, n in task["calls"].items() if op not in ("AssumeRole", "GetCallerIdentity")
                )
                for task in ran["tasks"]
            }
            return ran | {"calls": calls, "ec2_by_place": ec2, "swept": [task["place"] for task in ran["tasks"]]}

        result = self.run(f"c7n-org, {processes}", self.places, go)
        result["workers"] = processes
        return judged(result, self.places, summary_expected=0)


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since it booted, every process's (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Child:
    """A child process, its output going to files: a pipe nobody reads while it waits on another would fill,
    and stop the child (the workers log every revoke, as Lambda's functions do)."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        # Closed by `answer`, once the child has exited.
        self.out = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.err = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.command = command
        self.process = subprocess.Popen(command, env=env, stdout=self.out, stderr=self.err, text=True)

    def answer(self) -> dict[str, Any]:
        """What the child printed last (its JSON); raise with its stderr if it failed."""
        self.process.wait(timeout=CHILD_TIMEOUT)
        with self.out, self.err:
            self.out.seek(0)
            self.err.seek(0)
            if self.process.returncode != 0:
                raise RuntimeError(f"{' '.join(self.command)} failed:\n{self.err.read()[-3000:]}")
            result: dict[str, Any] = json.loads(self.out.read().splitlines()[-1])
        return result


def combined(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' calls added up, their time inside calls too; the largest peak memory."""
    calls: dict[str, int] = {}
    seconds: dict[str, float] = {}
    ec2: dict[str, int] = {}
    for result in results:
        for op, count in result["calls"].items():
            calls[op] = calls.get(op, 0) + count
        for op, spent in result["call_seconds"].items():
            seconds[op] = seconds.get(op, 0.0) + spent
        for place, count in result["ec2_by_place"].items():
            ec2[place] = ec2.get(place, 0) + count
    rss = max(result["max_rss_mb"] for result in results)
    return {"calls": calls, "call_seconds": seconds, "ec2_by_place": ec2, "max_rss_mb": rss}


def judged(result: dict[str, Any], places: list[str], summary_expected: int) -> dict[str, Any]:
    """Label the run correct only if every check holds; `problems` says which did not."""
    problems = []
    if result["still_open"]:
        problems.append(f"{result['still_open']} SSH rules still open")
    if not result["allowed_kept"]:
        problems.append("an allowed rule is gone")
    if sorted(result["swept"]) != sorted(places):
        problems.append(
            f"swept {len(result['swept'])} account-regions for {len(places)} ({len(set(result['swept']))} distinct)"
        )
    if result.get("failures"):
        problems.append(f"workers failed: {result['failures'][:3]}")
    if result.get("left_on_queues"):
        problems.append(f"{result['left_on_queues']} messages left on the queues")
    if len(result["published"]) != summary_expected:
        problems.append(f"{len(result['published'])} messages published, not {summary_expected}")
    if summary_expected and len(places) > 1:
        wanted = f"sg-sentry sweep: found something in {len(places)} of {len(places)} account-regions"
        if result["published"] != [wanted]:
            problems.append(f"published {result['published']}, not {wanted!r}")
    if "matched_groups" in result and result["matched_groups"] != result["violating"]:
        problems.append(f"c7n-org matched {result['matched_groups']} groups, not {result['violating']}")
    result.update(problems=problems, correct=not problems)
    return result


# --- Reporting --------------------------------------------------------------------------------------


def describe(result: dict[str, Any]) -> str:
    who = result["who"]
    if who == "floor":
        return "sg-sentry, one account-region (the floor)"
    if who == "serial":
        return "sg-sentry, serial: `sweep_round`, one process"
    if who.startswith("queue"):
        return f"sg-sentry, through the queue: {plural(result['workers'], 'worker')}"
    return f"c7n-org, {plural(result['workers'], 'pool process', 'pool processes')}"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| who | account-regions | violating | wall time | of it, queueing | moto's CPU | the clients' CPU "
        "| others' CPU | AWS calls | per account-region | EC2 per account-region | by operation "
        "| peak memory (largest process) | all correct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|:---:|",
    ]
    for r in results:
        calls = sum(r["calls"].values())
        ec2 = sorted(r["ec2_by_place"].values())
        ec2_range = f"{ec2[0]}" if ec2[0] == ec2[-1] else f"{ec2[0]}–{ec2[-1]}"
        by_operation = ", ".join(f"{name} {count:,}" for name, count in sorted(r["calls"].items()))
        if "poller" in r:
            by_operation += "; Lambda's poller: " + ", ".join(f"{op} {r['poller'][op]:,}" for op in POLLER)
        queueing = f"{r['queueing_seconds']:.1f} s" if "queueing_seconds" in r else ""
        lines.append(
            f"| {describe(r)} | {r['places']:,} | {r['violating']:,} | {r['wall_seconds']:.1f} s | {queueing} "
            f"| {r['moto_cpu_seconds']:.1f} s | {r['children_cpu_seconds']:.1f} s | {r['others_cores']:.2f} cores "
            f"| {calls:,} "
            f"| {calls / r['places']:.2f} | {ec2_range} | {by_operation} | {r['max_rss_mb']:.0f} MB "
            f"| {'yes' if r['correct'] else 'NO: ' + '; '.join(r['problems'])} |"
        )
    return "\n".join(lines)


def against_the_floor(results: list[dict[str, Any]], floor: dict[str, Any]) -> str:
    """Each run against the floor times the number of account-regions: wall time and calls."""
    floor_calls = sum(floor["calls"].values())
    lines = [
        f"Against the floor ({floor_calls} calls, {floor['wall_seconds']:.2f} s for one account-region), "
        "times the account-regions swept:",
        "",
        "| who | wall time ÷ (floor × account-regions) | calls per account-region − the floor's |",
        "|---|---:|---:|",
    ]
    for r in results:
        if r is floor:
            continue
        ratio = r["wall_seconds"] / (floor["wall_seconds"] * r["places"])
        extra = sum(r["calls"].values()) / r["places"] - floor_calls
        lines.append(f"| {describe(r)} | {ratio:.2f} | {extra:+.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20, help="accounts in the organization, the central one too")
    parser.add_argument("--regions", default=",".join(REGIONS), help="comma-separated regions swept")
    parser.add_argument("--groups", type=int, default=500, help="guarded groups in each account-region")
    parser.add_argument("--workers", default="1,4,8", help="comma-separated worker counts (and c7n-org's)")
    parser.add_argument("--no-custodian", action="store_true", help="skip c7n-org (and Cloud Custodian's install)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--child", choices=["floor", "serial", "schedule", "worker"], help=argparse.SUPPRESS)
    parser.add_argument("queue_url", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "floor":
        print(json.dumps(floor_child()))
        return 0
    if args.child == "serial":
        print(json.dumps(serial_child()))
        return 0
    if args.child == "schedule":
        print(json.dumps(schedule_child()))
        return 0
    if args.child == "worker":
        print(json.dumps(worker_child(args.queue_url)))
        return 0
    custodian = None if args.no_custodian else ensure_custodian()
    linear_moto()
    accounts, regions = org_accounts(args.accounts), args.regions.split(",")
    workers = [int(part) for part in args.workers.split(",")]
    # Imported here: moto's server and EC2 models, which the children must not carry in their memory.
    from localaws.ec2_answers import revokes_name_their_rules
    from localaws.server import REGION, local_aws

    assert REGION == HOME, "the central deployment's region is the local AWS's default"

    results: list[dict[str, Any]] = []
    load = os.getloadavg()
    with (
        local_aws(HOME) as endpoint,
        revokes_name_their_rules(),
        atomic_moto(),
        tempfile.TemporaryDirectory(prefix="sg-sentry-bench-org-") as folder,
    ):
        empty_account(endpoint)
        say(f"seeding {len(accounts)} accounts x {len(regions)} regions x {args.groups:,} groups ...")
        org = Organization(accounts, regions, args.groups, endpoint)
        say(f"seeded in {org.seeding_seconds:.1f} s; the floor, then serial ...")
        floor = org.floor()
        results += [floor, org.serial()]
        for count in workers:
            say(f"through the queue, {plural(count, 'worker')} ...")
            results.append(org.queued(count))
        if custodian is not None:
            for count in workers:
                say(f"c7n-org, {plural(count, 'pool process', 'pool processes')} ...")
                results.append(org.custodian(custodian, Path(folder), count))
    after = os.getloadavg()
    print(machine())
    print(
        f"Load average (1, 5, 15 min) before: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; "
        f"after: {after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f}"
    )
    print(
        f"{len(accounts)} accounts x {len(regions)} regions ({', '.join(regions)}) x {args.groups:,} guarded groups, "
        f"one in {FORBIDDEN_EVERY} with SSH open to the world; seeded in {org.seeding_seconds:.1f} s (not timed)"
    )
    if custodian is not None:
        print(f"Cloud Custodian: c7n-org {C7N_ORG_VERSION}, bench/sweep.py's policy")
    print()
    print(table(results))
    print()
    print(against_the_floor(results, floor))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0 if all(r["correct"] for r in results) else 1


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
