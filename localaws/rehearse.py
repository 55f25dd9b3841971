"""`make rehearse`: the real `chalice deploy` and `chalice delete`, against moto's server on 127.0.0.1.

It deploys a copy of the project (so nothing is written into the working
tree), then checks what AWS would hold: the function, the EventBridge rule
with the app's pattern targeting it, and the role carrying the shipped policy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from sentrycli.project import Project

ROOT = Path(__file__).resolve().parent.parent
# What Chalice packages: the app, its library and its settings.
DEPLOYABLE = ("app.py", "chalicelib", ".chalice", "requirements.txt")


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.what}"


@contextmanager
def project_copy(source: Path = ROOT) -> Iterator[Path]:
    """A temporary copy of the deployable parts of the project."""
    with tempfile.TemporaryDirectory(prefix="sg-sentry-") as folder:
        target = Path(folder)
        for name in DEPLOYABLE:
            path = source / name
            if path.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "deployments", "deployed", "*.tmp")
                shutil.copytree(path, target / name, ignore=ignore)
            else:
                shutil.copy2(path, target / name)
        yield target


def chalice(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the Chalice CLI of this interpreter's environment; AWS_ENDPOINT_URL points it at moto."""
    command = [str(Path(sys.executable).parent / "chalice"), "--project-dir", str(project), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def verify_deployed(project: Path, stage: str, region: str) -> list[Check]:
    """What AWS holds after `chalice deploy`, compared with the project."""
    from app import SECURITY_GROUP_CHANGES  # the copy deployed holds the same code

    names = Project(project)
    lam, events, iam = (boto3.client(name, region_name=region) for name in ("lambda", "events", "iam"))
    function = lam.get_function(FunctionName=names.function_name(stage))["Configuration"]
    runtime = function["Runtime"]
    checks = [
        Check(True, f"function {function['FunctionName']} exists"),
        Check(_minor(runtime) >= 12, f"runtime {runtime} (3.12 or newer)"),
        Check(function["Handler"] == "app.on_security_group_change", f"handler {function['Handler']}"),
        Check(
            function.get("Environment", {}).get("Variables", {}) == names.environment(stage),
            "environment is the stage's environment_variables",
        ),
    ]
    rule = events.describe_rule(Name=names.rule_name(stage))
    targets = events.list_targets_by_rule(Rule=names.rule_name(stage))["Targets"]
    checks += [
        Check(rule["State"] == "ENABLED", f"EventBridge rule {rule['Name']} is {rule['State']}"),
        Check(json.loads(rule["EventPattern"]) == SECURITY_GROUP_CHANGES, "the rule's pattern is the app's"),
        Check(any(t["Arn"] == function["FunctionArn"] for t in targets), "the rule targets the function"),
    ]
    role = function["Role"].rsplit("/", 1)[-1]
    documents = [
        _document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    checks.append(Check(names.policy(stage) in documents, f"role {role} carries {names.policy_path(stage).name}"))
    return checks


def verify_deleted(project: Path, stage: str, region: str) -> list[Check]:
    names = Project(project)
    lam = boto3.client("lambda", region_name=region)
    functions = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    rules = [r["Name"] for r in boto3.client("events", region_name=region).list_rules()["Rules"]]
    roles = [r["RoleName"] for r in boto3.client("iam", region_name=region).list_roles()["Roles"]]
    return [
        Check(names.function_name(stage) not in functions, "chalice delete removed the function"),
        Check(names.rule_name(stage) not in rules, "chalice delete removed the rule"),
        Check(names.function_name(stage) not in roles, "chalice delete removed the role"),
    ]


def rehearse(project: Path, stage: str, region: str) -> list[Check]:
    """Deploy, verify, delete, verify: against whatever AWS_ENDPOINT_URL names."""
    chalice(project, "deploy", "--stage", stage)
    checks = verify_deployed(project, stage, region)
    chalice(project, "delete", "--stage", stage)
    return checks + verify_deleted(project, stage, region)


def _minor(runtime: str) -> int:
    prefix, _, minor = runtime.partition("python3.")
    return int(minor) if not prefix and minor.isdigit() else 0


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def main() -> int:
    from localaws.server import REGION, local_aws

    with local_aws() as endpoint, project_copy() as project:
        print(f"Rehearsing chalice deploy / chalice delete of the dev stage against moto at {endpoint}")
        checks = rehearse(project, "dev", REGION)
    for check in checks:
        print(check)
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
