"""Cloud Custodian doing the sweep's job, for bench/sweep.py and bench/organization.py: same server, same groups.

What it measures: Cloud Custodian (c7n, pinned below) running one policy
equivalent to our sweep in internet mode (`policy()`): guarded groups (tag
sg-sentry=guard), tcp, udp or all-traffic ingress rules from the internet on
anything but ports 80 and 443 (SENTRY_OPEN_PORTS' default), removed with
`remove-permissions: matched`, run as `custodian run --cache-period 0`.

How: c7n gets its own virtual environment, .bench/c7n (built on first use by
`ensure_custodian`): it pins boto3 to an exact release, not the one in
.venv. bench/sweep.py seeds moto's server and opens the forbidden rules;
`run_custodian` then runs the policy once, in-process, in a fresh Python of
c7n's venv (`python -m bench.custodian --child`). The child counts every AWS
call with `bench.measure.Calls` (as the sweep's child does), refuses any
connection that is not to the loopback interface, and prints wall time,
import time, calls by operation, time inside them and peak memory as one
JSON line. bench/sweep.py checks the outcome as it does the sweep's.

An organization (bench/organization.py): c7n-org (pinned below too) runs
the same policy in every account and region of an `accounts.yml` that names
each account's role ARN (`run_custodian_org`, `--org-child`). It assumes
the role through STS, which AWS_ENDPOINT_URL sends to moto, and moto lets
any role be assumed, its credentials acting in the role's account. c7n-org
runs each account-region in a process pool (C7N_ORG_PARALLEL processes),
forked from the child, so the counting and the loopback guard carry over;
each task writes its own calls.

Where the policy differs from the sweep (neither arises on the seeded groups):
for IPv6 it matches ::/0 only, where the sweep treats every source outside
internal space as the internet (c7n's `cidr` value type is IPv4-only); and it
knows nothing of SENTRY_TRUSTED_CIDRS. c7n also describes every group in the
region and filters by tag on the client.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".bench" / "c7n"
# c7n pinned with every dependency: the newest c7n on PyPI when this was written (it runs on Python 3.13).
REQUIREMENTS = REPO / "bench" / "c7n-requirements.txt"
PINS = REQUIREMENTS.read_text()
C7N_VERSION = next(line.split("==")[1] for line in PINS.splitlines() if line.startswith("c7n=="))
# Cloud Custodian's multi-account runner, for bench/organization.py.
C7N_ORG_VERSION = next(line.split("==")[1] for line in PINS.splitlines() if line.startswith("c7n-org=="))
# Written last by ensure_custodian: a venv without it is a half-finished install, or one of other pins.
MARKER = VENV / f".installed-{hashlib.sha256(PINS.encode()).hexdigest()[:12]}"
POLICY_NAME = "sg-sentry-internet"


def policy() -> str:
    """The sweep's internet mode as a c7n policy (YAML).

    OnlyPorts is c7n's inverse match: a rule matches unless it is exactly port
    80 or exactly 443, and a rule without ports (all traffic) is judged on its
    source alone. The sweep leaves ICMP alone, hence IpProtocol. An IPv4 source
    is the internet unless it lies inside internal space, as in the sweep; c7n's
    `cidr` value type parses IPv4 only, so for IPv6 only ::/0 is matched. Cidr
    and CidrV6 in one filter would both have to match one range, hence `or`.
    """
    # Our own list, so the two cannot drift apart. Imported here: chalicelib is not in c7n's venv.
    from chalicelib.domain.policy import INTERNAL_NETWORKS

    internal_v4 = json.dumps([str(network) for network in INTERNAL_NETWORKS if network.version == 4])
    ported = '{type: value, op: in, value: [tcp, udp, "-1"]}'
    return f"""\
policies:
  - name: {POLICY_NAME}
    resource: aws.security-group
    filters:
      - "tag:sg-sentry": guard
      - or:
          - type: ingress
            IpProtocol: {ported}
            OnlyPorts: [80, 443]
            Cidr: {{value_type: cidr, op: not-in, value: {internal_v4}}}
          - type: ingress
            IpProtocol: {ported}
            OnlyPorts: [80, 443]
            CidrV6: {{value: "::/0"}}
    actions:
      - type: remove-permissions
        ingress: matched
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- The c7n virtual environment ---------------------------------------------------------------------------


def ensure_custodian() -> Path:
    """Build .bench/c7n with c7n pinned, unless already built; return its python."""
    python = VENV / "bin" / "python"
    if MARKER.exists():
        return python
    started = time.perf_counter()
    base = subprocess.run([REPO / "scripts" / "find-python"], capture_output=True, text=True, check=True)
    pinned = f"c7n=={C7N_VERSION}, c7n-org=={C7N_ORG_VERSION}"
    say(f"building {VENV.relative_to(REPO)} with {base.stdout.strip()} and {pinned} (all pinned) ...")
    subprocess.run([base.stdout.strip(), "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    # The child imports bench.measure from the repo with c7n's python: it must need nothing but the stdlib.
    subprocess.run([str(python), "-c", "import c7n.cli, c7n_org.cli, bench.measure"], cwd=REPO, check=True)
    MARKER.write_text(f"{pinned}\n")
    say(f"c7n installed in {time.perf_counter() - started:.1f} s")
    return python


# --- The child: c7n's python, one `custodian run` ----------------------------------------------------------


def is_loopback(host: object) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def loopback_only(refused: list[str], reached: set[str]) -> None:
    """Refuse, and note, every name lookup or connection not to the loopback interface.

    AWS_ENDPOINT_URL should send every client c7n makes to moto; this proves it
    did, and turns any client that ignores it (or an instance-metadata probe)
    into a refused connection instead of traffic leaving the machine.
    """
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            refused.append(f"lookup {host}")
            raise OSError(f"bench.custodian: refused to look up {host}: loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            if not is_loopback(address[0]):
                refused.append(f"connect {address[0]}:{address[1]}")
                raise OSError(f"bench.custodian: refused to connect to {address[0]}: loopback only")
            reached.add(f"{address[0]}:{address[1]}")
        real_connect(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]


def custodian_child(policy: str, output: str, region: str) -> dict[str, Any]:
    """In c7n's python: run the policy once through custodian's own CLI (what the child prints)."""
    refused: list[str] = []
    reached: set[str] = set()
    loopback_only(refused, reached)
    from bench.measure import Calls, peak_rss_mb

    # As in bench/sweep.py: botocore is imported by Calls before the clock starts.
    calls = Calls(counting=True)
    started = time.perf_counter()
    import c7n.cli

    imported = time.perf_counter()
    try:
        c7n.cli.main(["run", "--cache-period", "0", "-s", output, "-r", region, policy])
        exit_code: Any = 0
    except SystemExit as stop:  # custodian exits 2 when a policy raised
        exit_code = stop.code
    wall = time.perf_counter() - started
    # What the policy's filters matched; missing when custodian stopped before running it (an invalid policy).
    resources = Path(output) / POLICY_NAME / "resources.json"
    matched = json.loads(resources.read_text()) if resources.exists() else None
    return {
        "exit_code": exit_code,
        "matched_groups": None if matched is None else len(matched),
        "wall_seconds": wall,
        "import_seconds": imported - started,
        "calls": calls.counts,
        "call_seconds": calls.seconds,
        "max_rss_mb": peak_rss_mb(),
        "reached": sorted(reached),
        "refused": refused,
    }


# --- The parent: one run against the server bench/sweep.py seeded -----------------------------------------


def run_custodian(python: Path, endpoint: str, folder: Path) -> dict[str, Any]:
    """Run the policy once, in a fresh process of c7n's python, against `endpoint`; return what it measured."""
    from localaws.server import REGION

    policy_file = folder / "policy.yml"
    policy_file.write_text(policy())
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    # No config or credentials file of the user's may add a profile, a role or an endpoint.
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    with tempfile.TemporaryDirectory(dir=folder) as output:
        command = [str(python), "-m", "bench.custodian", "--child", "--policy", str(policy_file)]
        command += ["--output", output, "--region", REGION]
        child = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"the custodian child failed:\n{child.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    if result["exit_code"] != 0 or result["refused"]:
        raise RuntimeError(f"custodian failed or reached out: {result}\n{child.stderr[-3000:]}")
    return result


# --- c7n-org: the same policy in every account and region of an organization (bench/organization.py) ---------


def accounts_config(accounts: list[str], role: str) -> str:
    """c7n-org's accounts.yml: every account, entered through the role `role` there (as a member role would be)."""
    lines = ["accounts:"]
    for account in accounts:
        lines += [f'  - account_id: "{account}"', f"    name: account-{account}"]
        lines += [f"    role: arn:aws:iam::{account}:role/{role}"]
    return "\n".join(lines) + "\n"


def _counted_tasks(run_account: Any, calls: Any, folder: Path, refused: list[str]) -> Any:
    """c7n-org's `run_account` (one account-region, in a pool process), writing what it called to `folder`."""
    from bench.measure import peak_rss_mb

    def counted(account: dict[str, Any], region: str, *args: Any, **kwargs: Any) -> Any:
        calls.clear()  # what this pool process counted before (its earlier tasks) is written already
        began = time.perf_counter()
        try:
            return run_account(account, region, *args, **kwargs)
        finally:
            place = f"{account['account_id']}/{region}"
            record = {
                "place": place,
                "calls": calls.counts,
                "call_seconds": calls.seconds,
                "seconds": time.perf_counter() - began,
                "pid": os.getpid(),
                "max_rss_mb": peak_rss_mb(),
                "refused": refused,
            }
            (folder / f"{place.replace('/', '-')}.json").write_text(json.dumps(record))

    # The pool pickles the function by name: under that name, the pool's processes find this one.
    counted.__module__, counted.__qualname__ = run_account.__module__, run_account.__qualname__
    return counted


def custodian_org_child(policy: str, accounts: str, output: str, regions: list[str]) -> dict[str, Any]:
    """In c7n's python: `c7n-org run` once, over every account and region (what the child prints).

    c7n-org runs each account-region in a process pool of C7N_ORG_PARALLEL
    processes. They are forked from this one, so they inherit the call
    counting and the loopback guard; each writes its own task's calls.
    """
    refused: list[str] = []
    reached: set[str] = set()
    loopback_only(refused, reached)
    import multiprocessing

    from bench.measure import Calls, peak_rss_mb

    # Linux's default before Python 3.14; said here so that a newer Python's pool inherits the counting too.
    multiprocessing.set_start_method("fork", force=True)
    calls = Calls(counting=True)
    started = time.perf_counter()
    import c7n_org.cli

    imported = time.perf_counter()
    tasks = Path(output) / "calls"
    tasks.mkdir()
    cache = Path(output) / "cache"
    cache.mkdir()
    c7n_org.cli.run_account = _counted_tasks(c7n_org.cli.run_account, calls, tasks, refused)
    command = ["run", "-c", accounts, "-u", policy, "-s", str(Path(output) / "out"), "--cache-period", "0"]
    command += ["--cache-path", str(cache), *(part for region in regions for part in ("-r", region))]
    try:
        c7n_org.cli.cli(command, standalone_mode=False)
        exit_code: Any = 0
    except SystemExit as stop:  # c7n-org exits 1 when a policy failed in some account-region
        exit_code = stop.code
    wall = time.perf_counter() - started
    done = [json.loads(path.read_text()) for path in sorted(tasks.glob("*.json"))]
    # What the policy matched, account-region by account-region (c7n-org writes OUT/ACCOUNT/REGION/POLICY/).
    found = Path(output).glob(f"out/*/*/{POLICY_NAME}/resources.json")
    matched = sum(len(json.loads(path.read_text())) for path in found)
    return {
        "exit_code": exit_code,
        "matched_groups": matched,
        "wall_seconds": wall,
        "import_seconds": imported - started,
        # The runner's own calls (none expected: every call is a task's), and each task's.
        "calls": calls.counts,
        "call_seconds": calls.seconds,
        "tasks": done,
        "processes": len({task["pid"] for task in done}),
        "max_rss_mb": max([peak_rss_mb(), *(task["max_rss_mb"] for task in done)]),
        "reached": sorted(reached),
        "refused": refused + [line for task in done for line in task["refused"]],
    }


def run_custodian_org(
    python: Path, endpoint: str, folder: Path, accounts: list[str], regions: list[str], role: str, processes: int
) -> dict[str, Any]:
    """`c7n-org run` once over `accounts` x `regions` with `processes` pool processes; return what it measured."""
    policy_file = folder / "policy.yml"
    policy_file.write_text(policy())
    accounts_file = folder / "accounts.yml"
    accounts_file.write_text(accounts_config(accounts, role))
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "C7N_ORG_PARALLEL": str(processes)}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    with tempfile.TemporaryDirectory(dir=folder) as output:
        command = [str(python), "-m", "bench.custodian", "--org-child", "--policy", str(policy_file)]
        command += ["--accounts", str(accounts_file), "--output", output, "--regions", ",".join(regions)]
        child = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"the c7n-org child failed:\n{child.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    if result["exit_code"] != 0 or result["refused"]:
        raise RuntimeError(f"c7n-org failed or reached out: {result}\n{child.stderr[-3000:]}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help="run the policy once (bench/sweep.py does)")
    parser.add_argument("--org-child", action="store_true", help="run c7n-org once (bench/organization.py does)")
    parser.add_argument("--policy")
    parser.add_argument("--output")
    parser.add_argument("--region")
    parser.add_argument("--accounts", help="c7n-org's accounts.yml")
    parser.add_argument("--regions", help="comma-separated, for c7n-org")
    args = parser.parse_args()
    if args.org_child:
        print(json.dumps(custodian_org_child(args.policy, args.accounts, args.output, args.regions.split(","))))
        return 0
    if not args.child:
        parser.error("run `make bench` (or python -m bench.sweep): it seeds the server and runs this")
    print(json.dumps(custodian_child(args.policy, args.output, args.region)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
