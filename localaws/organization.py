"""An organization's parts that Chalice does not deploy, created against moto as an operator and a StackSet would.

Before `chalice deploy --stage org`, the operator creates what the stage's
environment names and Chalice only refers to: the sweep's queue (Chalice
subscribes the worker to it, and fails when it does not exist) with its
dead-letter queue, and the baseline table; and lets the organization put
events on the central default bus. `make package-org` creates the same from
.chalice/merge-template-org.json, so their properties are read from there.

In each member account and region, the StackSet creates templates/member.json:
here moto's CloudFormation creates it, one account and region at a time.

Used by the demo's third act and by `make rehearse`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from sentrycli.project import Project

if TYPE_CHECKING:  # the server module loads moto's: only what starts the server imports it
    from localaws.server import AccountSession

ROOT = Path(__file__).resolve().parent.parent
MEMBER_TEMPLATE = ROOT / "templates" / "member.json"
CENTRAL_TEMPLATE = Path(".chalice") / "merge-template-org.json"
MEMBER_STACK = "sg-sentry-member"
# The central template's statement ID for the bus policy, kept so that both ways of deploying say the same.
BUS_STATEMENT = "sg-sentry-organization"


@dataclass(frozen=True)
class Central:
    """The central deployment, as the member stack's parameters name it."""

    account: str
    region: str
    organization_id: str
    role_arns: tuple[str, ...]

    @property
    def bus_arn(self) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/default"


def prepare_central(project: Path, stage: str, region: str, organization_id: str) -> dict[str, str]:
    """Create the stage's queue (and dead-letter queue), its table and the bus policy; return what was made."""
    environment = Project(project).environment(stage)
    resources = json.loads((project / CENTRAL_TEMPLATE).read_text())["Resources"]
    queue, dead_letter = resources["SweepQueue"]["Properties"], resources["SweepDeadLetterQueue"]["Properties"]
    table = resources["BaselineTable"]["Properties"]
    sqs, dynamodb, events = (boto3.client(name, region_name=region) for name in ("sqs", "dynamodb", "events"))

    queue_name = environment["SENTRY_SWEEP_QUEUE"]
    dead_url = sqs.create_queue(
        QueueName=f"{queue_name}-dead-letter",
        Attributes={"MessageRetentionPeriod": str(dead_letter["MessageRetentionPeriod"])},
    )["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": queue["RedrivePolicy"]["maxReceiveCount"]}
    sqs.create_queue(
        QueueName=queue_name,
        Attributes={"VisibilityTimeout": str(queue["VisibilityTimeout"]), "RedrivePolicy": json.dumps(redrive)},
    )
    table_name = environment["SENTRY_BASELINE_TABLE"]
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode=table["BillingMode"],
    )
    # The sweep rounds' items expire after a day.
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={
            "AttributeName": table["TimeToLiveSpecification"]["AttributeName"],
            "Enabled": table["TimeToLiveSpecification"]["Enabled"],
        },
    )
    events.put_permission(
        EventBusName="default",
        Action="events:PutEvents",
        Principal="*",
        StatementId=BUS_STATEMENT,
        Condition={"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": organization_id},
    )
    return {"queue": queue_name, "dead-letter queue": f"{queue_name}-dead-letter", "table": table_name}


def central_role_arns(project: Path, stage: str, account: str) -> tuple[str, ...]:
    """The roles `chalice deploy` gives the stage's three functions: one each, named after the function."""
    names = Project(project)
    functions = (names.function_name(stage), names.sweep_name(stage), names.worker_name(stage))
    return tuple(f"arn:aws:iam::{account}:role/{function}" for function in functions)


def create_member_stack(
    session: AccountSession, central: Central, role_region: str, region: str | None = None
) -> dict[str, str]:
    """Create templates/member.json in the session's account, in `region` (or the session's); return its outputs.

    Raises RuntimeError when CloudFormation does not complete it.
    """
    parameters = {
        "CentralAccountId": central.account,
        "CentralRegion": central.region,
        "OrganizationId": central.organization_id,
        "CentralRoleArns": ",".join(central.role_arns),
        "RoleRegion": role_region,
    }
    cloudformation = session.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName=MEMBER_STACK,
        TemplateBody=MEMBER_TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=MEMBER_STACK)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"the member stack is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}")
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def delete_member_stack(session: AccountSession, region: str | None = None) -> None:
    session.client("cloudformation", region_name=region).delete_stack(StackName=MEMBER_STACK)


def trusted_principals(trust: dict[str, Any]) -> set[str]:
    """The AWS principals a role's trust policy lets assume it."""
    principals: set[str] = set()
    for statement in _listed(trust.get("Statement")):
        if statement.get("Effect") == "Allow" and "sts:AssumeRole" in _listed(statement.get("Action")):
            principals.update(_listed(statement.get("Principal", {}).get("AWS")))
    return principals


def allowed_actions(document: dict[str, Any]) -> set[str]:
    """Every action a policy document's Allow statements name."""
    return {
        action
        for statement in _listed(document.get("Statement"))
        if statement.get("Effect") == "Allow"
        for action in _listed(statement.get("Action"))
    }


def _listed(value: Any) -> Sequence[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
