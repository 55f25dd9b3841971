"""`make rehearse`: the real `chalice deploy` and `chalice delete`, against moto's server on 127.0.0.1.

It deploys a copy of the project (so nothing is written into the working
tree) as `make deploy` does, then checks what AWS would hold: the function,
its code (the package with checked-hash bytecode), the EventBridge rule with
the app's pattern targeting it, and the role carrying the shipped policy.

Then an organization's: the org stage deployed the same way (after the queue
and table it names, created as an operator would: localaws/organization.py),
and the member stack created from templates/member.json in a second account
(222222222222) by moto's CloudFormation, in two regions as a StackSet would;
both accounts' parts are checked, and everything is deleted again. One moto
server holds both accounts.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.adapters.permissions import MEMBER_ACTIONS
from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE, SESSION_PREFIX, Place
from localaws.organization import (
    Central,
    allowed_actions,
    create_member_stack,
    delete_member_stack,
    prepare_central,
    trusted_principals,
)
from sentrycli.bytecode import problems
from sentrycli.project import WORKER, Project

if TYPE_CHECKING:  # the server module loads moto's: only what starts the server imports it
    from localaws.server import AccountSession

ROOT = Path(__file__).resolve().parent.parent
# What Chalice packages: the app, its library and its settings.
DEPLOYABLE = ("app.py", "chalicelib", ".chalice", "requirements.txt")
ORG_STAGE = "org"
MEMBER_ACCOUNT = "222222222222"
# The member stack's regions, as a StackSet deploys it: the first creates the member role (RoleRegion).
MEMBER_REGIONS = ("us-east-1", "eu-west-1")


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
    """Run the Chalice CLI of this interpreter's environment as `make deploy` does, with the bytecode step in its
    packager (sentrycli/bytecode.py); AWS_ENDPOINT_URL points it at moto."""
    command = [sys.executable, "-m", "sentrycli.bytecode", "--project-dir", str(project), *args]
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
    shipped = _package_with_sha(project, function["CodeSha256"])
    checks.append(
        Check(
            shipped is not None and not problems(shipped, runtime),
            "its code is the package with checked-hash bytecode for every module",
        )
    )
    role = function["Role"].rsplit("/", 1)[-1]
    documents = _role_policies(iam, role)
    checks.append(Check(names.policy(stage) in documents, f"role {role} carries {names.policy_path(stage).name}"))
    return checks


def verify_deleted(project: Path, stage: str, region: str) -> list[Check]:
    names = Project(project)
    lam = boto3.client("lambda", region_name=region)
    functions = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    rules = {r["Name"] for r in boto3.client("events", region_name=region).list_rules()["Rules"]}
    roles = {r["RoleName"] for r in boto3.client("iam", region_name=region).list_roles()["Roles"]}
    deployed = set(_functions(names, stage))
    checks = [
        Check(not deployed & functions, f"chalice delete removed the function{'s' if len(deployed) > 1 else ''}"),
        Check(names.rule_name(stage) not in rules, "chalice delete removed the rule"),
        Check(not deployed & roles, f"chalice delete removed the role{'s' if len(deployed) > 1 else ''}"),
    ]
    queue = _queue_arn(names, stage, region)
    if queue is not None:
        left = lam.list_event_source_mappings(EventSourceArn=queue)["EventSourceMappings"]
        checks.append(Check(not left, "chalice delete removed the queue's event source mapping"))
    return checks


def verify_fan_out(project: Path, stage: str, region: str) -> list[Check]:
    """An organization's stage: the sweep and its worker, subscribed to the queue the stage names."""
    names = Project(project)
    lam, events, iam = (boto3.client(name, region_name=region) for name in ("lambda", "events", "iam"))
    config = names.config().get("lambda_functions", {})
    checks = []
    for function_name, handler, key in (
        (names.sweep_name(stage), "app.scheduled_sweep", "sweep"),
        (names.worker_name(stage), f"app.{WORKER}", WORKER),
    ):
        function = lam.get_function(FunctionName=function_name)["Configuration"]
        timeout = config.get(key, {}).get("lambda_timeout")
        checks += [
            Check(function["Handler"] == handler, f"function {function_name} exists, handler {function['Handler']}"),
            Check(function["Timeout"] == timeout, f"{function_name} times out after {function['Timeout']} s"),
            Check(
                function.get("Environment", {}).get("Variables", {}) == names.environment(stage),
                f"{function_name}'s environment is the stage's environment_variables",
            ),
            Check(
                names.policy(stage) in _role_policies(iam, function["Role"].rsplit("/", 1)[-1]),
                f"{function_name}'s role carries {names.policy_path(stage).name}",
            ),
        ]
    worker = lam.get_function(FunctionName=names.worker_name(stage))["Configuration"]
    queue = _queue_arn(names, stage, region)
    # By the queue: moto filters FunctionName by what the mapping was created with (Chalice gives the ARN).
    mappings = lam.list_event_source_mappings(EventSourceArn=queue)["EventSourceMappings"]
    on_queue = [m for m in mappings if m["EventSourceArn"] == queue and m["FunctionArn"] == worker["FunctionArn"]]
    checks.append(
        Check(
            len(on_queue) == 1 and on_queue[0]["State"] == "Enabled" and on_queue[0]["BatchSize"] == 1,
            f"the worker takes the messages of {queue}, one at a time",
        )
    )
    sweep = lam.get_function(FunctionName=names.sweep_name(stage))["Configuration"]
    schedule = events.describe_rule(Name=f"{names.sweep_name(stage)}-event")
    targets = events.list_targets_by_rule(Rule=schedule["Name"])["Targets"]
    checks.append(
        Check(
            schedule["State"] == "ENABLED" and any(t["Arn"] == sweep["FunctionArn"] for t in targets),
            f"the schedule {schedule.get('ScheduleExpression')} invokes the sweep",
        )
    )
    return checks


def verify_member(session: AccountSession, central: Central, outputs: dict[str, str], place: Place) -> list[Check]:
    """What the member stack holds in one region: the forwarding rule and its role, and the member role once."""
    from app import SECURITY_GROUP_CHANGES

    events, iam = session.client("events", region_name=place.region), session.client("iam", region_name=place.region)
    where = str(place)
    rule = events.describe_rule(Name=outputs["ForwardingRuleArn"].rsplit("/", 1)[-1])
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    forwarding = iam.get_role(RoleName=target["RoleArn"].rsplit("/", 1)[-1])["Role"]
    forwards = _role_policies(iam, forwarding["RoleName"], _stack_document)
    checks = [
        Check(rule["State"] == "ENABLED", f"{where}: forwarding rule {rule['Name']} is {rule['State']}"),
        Check(json.loads(rule["EventPattern"]) == SECURITY_GROUP_CHANGES, f"{where}: its pattern is the sentry's"),
        Check(target["Arn"] == central.bus_arn, f"{where}: it targets the central bus {target['Arn']}"),
        Check(
            [statement["Resource"] for forward in forwards for statement in forward["Statement"]] == [central.bus_arn]
            and {a for forward in forwards for a in allowed_actions(forward)} == {"events:PutEvents"},
            f"{where}: its role {forwarding['RoleName']} may only put events on the central bus",
        ),
    ]
    if "MemberRoleArn" not in outputs:
        return checks
    role = iam.get_role(RoleName=outputs["MemberRoleArn"].rsplit("/", 1)[-1])["Role"]
    trust = _document(role["AssumeRolePolicyDocument"])
    conditions = [statement.get("Condition", {}) for statement in trust["Statement"]]
    policies = _role_policies(iam, role["RoleName"], _stack_document)
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    checks += [
        Check(role["RoleName"] == DEFAULT_MEMBER_ROLE, f"{where}: member role {role['Arn']}"),
        Check(trusted_principals(trust) == set(central.role_arns), f"{where}: it trusts exactly the central roles"),
        Check(
            conditions
            == [
                {
                    "StringEquals": {"aws:PrincipalOrgID": central.organization_id},
                    "StringLike": {"sts:RoleSessionName": SESSION_PREFIX + "*"},
                }
            ],
            f"{where}: only inside {central.organization_id}, in sessions named {SESSION_PREFIX}*",
        ),
        Check(
            not attached and {action for policy in policies for action in allowed_actions(policy)} == MEMBER_ACTIONS,
            f"{where}: its policy allows exactly the MEMBER actions ({len(MEMBER_ACTIONS)}, EC2 only)",
        ),
    ]
    return checks


def rehearse_organization(
    project: Path, region: str, member: str = MEMBER_ACCOUNT, member_regions: tuple[str, ...] = MEMBER_REGIONS
) -> list[Check]:
    """The org stage deployed, the member stack created in `member` in each region, verified, all deleted."""
    from localaws.server import in_account

    names = Project(project)
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    organization = boto3.client("organizations", region_name=region).create_organization(FeatureSet="ALL")
    prepare_central(project, ORG_STAGE, region, organization["Organization"]["Id"])
    chalice(project, "deploy", "--stage", ORG_STAGE)
    checks = verify_deployed(project, ORG_STAGE, region) + verify_fan_out(project, ORG_STAGE, region)

    lam = boto3.client("lambda", region_name=region)
    roles = tuple(
        sorted({lam.get_function(FunctionName=name)["Configuration"]["Role"] for name in _functions(names, ORG_STAGE)})
    )
    central = Central(account, region, organization["Organization"]["Id"], roles)
    # One session for the member's every region: its clients share what botocore loads.
    session = in_account(member, member_regions[0])
    for where in member_regions:
        place = Place(member, where)
        try:
            outputs = create_member_stack(session, central, role_region=member_regions[0], region=where)
        except (ClientError, RuntimeError) as error:  # CloudFormation's refusal, or moto's: said; the rest checked
            checks.append(Check(False, f"{place}: the member stack was not created: {error}"))
            continue
        checks.append(
            Check(
                ("MemberRoleArn" in outputs) == (where == member_regions[0]),
                f"{place}: stack {'with' if 'MemberRoleArn' in outputs else 'without'} the member role",
            )
        )
        checks += verify_member(session, central, outputs, place)

    for where in member_regions:
        delete_member_stack(session, where)
    left = session.client("iam").list_roles()["Roles"]
    events = [session.client("events", region_name=where) for where in member_regions]
    rules = [rule for client in events for rule in client.list_rules()["Rules"]]
    checks.append(Check(not left and not rules, "deleting the member stacks removed their roles and rules"))
    chalice(project, "delete", "--stage", ORG_STAGE)
    return checks + verify_deleted(project, ORG_STAGE, region)


def _role_policies(iam: Any, role: str, parse: Callable[[Any], Any] | None = None) -> list[Any]:
    """The role's inline policy documents."""
    return [
        (parse or _document)(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]


def _functions(names: Project, stage: str) -> tuple[str, ...]:
    """The functions `chalice deploy` makes for the stage: the worker only with a sweep queue."""
    functions = (names.function_name(stage), names.sweep_name(stage))
    return (*functions, names.worker_name(stage)) if names.environment(stage).get("SENTRY_SWEEP_QUEUE") else functions


def _queue_arn(names: Project, stage: str, region: str) -> str | None:
    queue = names.environment(stage).get("SENTRY_SWEEP_QUEUE")
    if not queue:
        return None
    sqs = boto3.client("sqs", region_name=region)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def rehearse(project: Path, stage: str, region: str) -> list[Check]:
    """Deploy, verify, delete, verify: against whatever AWS_ENDPOINT_URL names."""
    chalice(project, "deploy", "--stage", stage)
    checks = verify_deployed(project, stage, region)
    chalice(project, "delete", "--stage", stage)
    return checks + verify_deleted(project, stage, region)


def _package_with_sha(project: Path, code_sha256: str) -> Path | None:
    """The zip in Chalice's cache (.chalice/deployments/) that Lambda holds: the one with its CodeSha256."""
    for path in sorted((project / ".chalice" / "deployments").glob("*.zip")):
        if base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode() == code_sha256:
            return path
    return None


def _minor(runtime: str) -> int:
    prefix, _, minor = runtime.partition("python3.")
    return int(minor) if not prefix and minor.isdigit() else 0


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _stack_document(value: Any) -> Any:
    """An inline policy of a role moto's CloudFormation created: JSON, or else the Python literal moto stores.

    moto 5.2's Role.create_from_cloudformation_json (moto/iam/models.py) JSON-encodes the
    AssumeRolePolicyDocument but hands each of Policies' documents to `put_policy` as a dict, so
    GetRolePolicy answers with its repr ({'Version': ...}), which botocore cannot decode. AWS answers JSON.
    """
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return ast.literal_eval(value)


def main() -> int:
    from localaws.server import REGION, local_aws

    with local_aws() as endpoint, project_copy() as project:
        print(f"Rehearsing chalice deploy / chalice delete of the dev stage against moto at {endpoint}")
        checks = rehearse(project, "dev", REGION)
        print(
            f"then of the {ORG_STAGE} stage, with the member stack from templates/member.json in account"
            f" {MEMBER_ACCOUNT} ({', '.join(MEMBER_REGIONS)})"
        )
        checks += rehearse_organization(project, REGION)
    for check in checks:
        print(check)
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
