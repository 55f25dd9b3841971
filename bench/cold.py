"""Cold start: a fresh Python process that handles one event, next to the original recipe's minimal approach.

    .venv/bin/python -m bench.cold [--runs 21]

Against moto's server on 127.0.0.1. Each run opens SSH to the world on a
guarded group (set up, not timed), then starts a fresh interpreter that
either imports `app.py` and handles the event (the sentry), or imports
boto3, creates an EC2 client and makes one revoke (the recipe). The two
alternate; medians are shown, both for the whole process (what a Lambda
cold start pays, interpreter start included) and for the work inside it.

Both run as Lambda runs them: in the deployment package (`make package`,
unzipped, as /var/task, read-only), where no bytecode can be cached, and
boto3 precompiled, as the runtime provides it. The sentry runs twice in each
round: from the package as shipped, with the checked-hash bytecode of
app.py, chalicelib/ and Chalice's runtime in it (sentrycli/bytecode.py), and
from the same package without that bytecode (as before issue 14: every cold
start compiles them from source). The three take turns, in a rotating order.
The package's size is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3

from bench.event import SSH, _ssh_rules, opened
from bench.measure import empty_account, machine
from localaws.ec2_answers import revokes_name_their_rules
from localaws.rehearse import project_copy
from localaws.server import REGION, local_aws
from sentrycli.bytecode import is_bytecode

ROOT = Path(__file__).resolve().parent.parent
# Seconds: the whole process, from its start to the answer, the work inside it, and its CPU time.
Timing = tuple[float, float, float, float]
# Each child prints, last, the seconds its work took, measured from its first line, and the moment it was done
# (the system's monotonic clock, which the parent shares); the sentry prints its answer first.
SENTRY = """
import time; started = time.perf_counter()
import json, sys
import chalice.app
assert not chalice.app.__file__.startswith(sys.prefix), "Chalice's runtime must come from the package"
from app import on_security_group_change
answer = on_security_group_change(json.load(open(sys.argv[1])), None)
inside, done = time.perf_counter() - started, time.monotonic()
assert answer["outcome"] == "reverted", answer
print(json.dumps(answer))
print(inside, done)
"""
RECIPE = """
import time; started = time.perf_counter()
import json, sys
import boto3
ec2 = boto3.client("ec2")
ec2.revoke_security_group_ingress(GroupId=sys.argv[2], IpPermissions=[json.loads(sys.argv[3])])
print(time.perf_counter() - started, time.monotonic())
"""


def run(code: str, *args: str, env: dict[str, str], task: Path) -> tuple[Timing, list[str]]:
    """(whole process, to the answer, work inside it, the process's CPU time) in seconds, run in `task` (the
    unzipped package) as Lambda runs it, and what else the child printed.

    "To the answer" is from starting the process to the handler's return: what a Lambda cold start makes the
    event wait, the interpreter's start included; Lambda keeps the process for the next event, where the whole
    process also counts its exit (freeing botocore's models, and the rest). The CPU time (user and system) is
    what the process itself did, whatever else the machine was running; moto answers in this process, so its
    work is not counted.
    """
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, spawned = time.perf_counter(), time.monotonic()
    # Lambda cannot write bytecode next to the package (and `task` is read-only): what the package does not
    # ship is compiled from source on every cold start. Only boto3, which the runtime provides, is precompiled.
    # Lambda's Python has boto3 on its path and none of this virtualenv's start-up hooks (`-S`: no site, so no
    # .pth files; the editable install's finder would import pathlib, and more, into both processes).
    env = env | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    child = subprocess.run(
        [sys.executable, "-S", "-c", code, *args], cwd=task, env=env, capture_output=True, text=True, check=False
    )
    whole = time.perf_counter() - started
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ended.ru_utime - used.ru_utime + ended.ru_stime - used.ru_stime
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-2000:])
    *printed, last = child.stdout.splitlines()
    inside, answered = (float(value) for value in last.split())
    return (whole, answered - spawned, inside, cpu), printed


# The two packages measured: as shipped (with bytecode), and the same without its bytecode (as before issue 14).
SHIPPED, SOURCE = "bytecode", "source"


def package(into: Path) -> dict[str, dict[str, int]]:
    """Build the deployment zip as `make package` does and unzip it into `into`/bytecode, and into `into`/source
    without its bytecode; return, for each, the zip's size and the compressed bytes of each part."""
    # A clean copy: what a local run left under chalicelib/ stays out of the measurement.
    with project_copy() as project, tempfile.TemporaryDirectory(prefix="sg-sentry-package-") as out:
        env = dict(os.environ, AWS_DEFAULT_REGION=REGION)
        command = [sys.executable, "-m", "sentrycli.bytecode", "--project-dir", str(project), "package", out]
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
        shipped, stripped = Path(out) / "deployment.zip", Path(out) / "source.zip"
        with zipfile.ZipFile(shipped) as archive, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as without:
            for item in archive.infolist():
                if not is_bytecode(item.filename):
                    without.writestr(item, archive.read(item))
        sizes = {}
        for name, path in ((SHIPPED, shipped), (SOURCE, stripped)):
            parts = {"bytes": path.stat().st_size}
            with zipfile.ZipFile(path) as archive:
                for item in archive.infolist():
                    top = "bytecode" if is_bytecode(item.filename) else item.filename.split("/")[0]
                    parts[top] = parts.get(top, 0) + item.compress_size
                archive.extractall(into / name)
            read_only(into / name)
            sizes[name] = parts
        return sizes


def read_only(task: Path, writable: bool = False) -> None:
    """Lambda's /var/task is read-only: so is `task`'s every folder, until `writable`."""
    for folder in [task, *(path for path in task.rglob("*") if path.is_dir())]:
        folder.chmod(0o755 if writable else 0o555)


def files(task: Path) -> set[Path]:
    return set(task.rglob("*"))


WHO = {
    "sentry": "the sentry, shipped bytecode: import app.py, handle the event",
    "source": "the sentry, without the bytecode (compiled from source, as before)",
    "recipe": "the recipe",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    times: dict[str, list[Timing]] = {who: [] for who in WHO}
    answers: list[dict[str, Any]] = []  # what each sentry run's handler returned
    with (
        local_aws() as endpoint,
        revokes_name_their_rules(),  # as EC2 answers: the sentry then proves the revoke without a read
        tempfile.TemporaryDirectory(prefix="sg-sentry-cold-") as folder,
    ):
        empty_account(endpoint)
        ec2, sns = boto3.client("ec2", region_name=REGION), boto3.client("sns", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
        topic = sns.create_topic(Name="sg-sentry-bench")["TopicArn"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
        sentry_env = env | {"SENTRY_GROUP_IDS": group, "SENTRY_TOPIC_ARN": topic}
        event_file = Path(folder) / "event.json"
        sizes = package(Path(folder))  # Lambda's /var/task: the deployment package, unzipped
        tasks = {SHIPPED: Path(folder) / SHIPPED, SOURCE: Path(folder) / SOURCE}
        before = {name: files(task) for name, task in tasks.items()}
        try:
            for number in range(args.runs):
                print(f"cold start {number + 1} of {args.runs} ...", file=sys.stderr, flush=True)
                order = [*WHO][number % len(WHO) :] + [*WHO][: number % len(WHO)]
                for who in order:
                    if who == "recipe":
                        opened(ec2, group)
                        timed, _ = run(RECIPE, str(event_file), group, json.dumps(SSH), env=env, task=tasks[SOURCE])
                    else:
                        event_file.write_text(json.dumps(opened(ec2, group)))
                        task = tasks[SHIPPED if who == "sentry" else SOURCE]
                        timed, printed = run(SENTRY, str(event_file), env=sentry_env, task=task)
                        answers.append(json.loads(printed[-1]))
                    times[who].append(timed)
                    # Each one's effect, read from the group before the next process touches it.
                    assert not _ssh_rules(ec2, group), f"SSH left open by {who}"
            # Nothing was cached in the packages between runs: each cold start found them as built.
            assert all(files(task) == before[name] for name, task in tasks.items()), "a run wrote into a package"
        finally:
            for task in tasks.values():
                read_only(task, writable=True)
    medians = {who: [statistics.median(run[i] for run in runs) for i in range(4)] for who, runs in times.items()}
    print(machine())
    print("| cold start, median | whole process | to the answer | work inside it | CPU time of the process |")
    print("|---|---:|---:|---:|---:|")
    for who, label in WHO.items():
        print(f"| {label} | " + " | ".join(f"{value * 1000:.0f} ms" for value in medians[who]) + " |")
    for who, label in (("sentry", "ratio, shipped bytecode"), ("source", "ratio, without the bytecode")):
        ratios = (medians[who][i] / medians["recipe"][i] for i in range(4))
        print(f"| {label} | " + " | ".join(f"{ratio:.2f}" for ratio in ratios) + " |")
    print()
    for name, label in ((SHIPPED, "with its bytecode"), (SOURCE, "without it")):
        parts = sizes[name]
        shown = ", ".join(f"{part} {count:,} B" for part, count in sorted(parts.items()) if part != "bytes")
        print(f"Deployment package {label}: {parts['bytes']:,} bytes ({shown}, compressed)")
    if args.json:
        with open(args.json, "w") as out:
            result: dict[str, Any] = {"runs": times, "answers": answers, "packages": sizes}
            json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
