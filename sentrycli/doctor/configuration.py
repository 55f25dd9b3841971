"""The settings the sentry runs with, and the groups they guard."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.domain.config import ConfigError
from sentrycli.doctor.deployment import Deployment, Judgement, listing


def check_configuration(deployment: Deployment) -> Judgement:
    try:
        settings = deployment.settings
    except ConfigError as error:
        return False, str(error)
    deployed = deployment.deployed
    source = (
        f"the deployed function {deployment.function_name}" if deployed else f"config.json stage {deployment.stage}"
    )
    detail = f"{source}: mode {settings.policy.mode}, guarding {settings.scope}"
    if deployed is not None:
        meant = deployment.project.environment(deployment.stage)
        drift = sorted(
            key for key in set(deployment.environment) | set(meant) if deployment.environment.get(key) != meant.get(key)
        )
        if drift:
            detail += f" (config.json differs in {', '.join(drift)}: redeploy if that is not intended)"
    if settings.dry_run:
        detail += "; DRY RUN: nothing will be reverted"
    return True, detail


def check_groups(deployment: Deployment) -> Judgement:
    scope = deployment.settings.scope
    if not scope.guards_anything:
        return False, "nothing is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG"
    ec2 = deployment.clients("ec2")
    found, absent = (["every group in the region"] if scope.all_groups else []), []
    for group_id in sorted(scope.group_ids):
        try:
            ec2.describe_security_groups(GroupIds=[group_id])
            found.append(group_id)
        except ClientError as error:
            if "NotFound" not in error.response.get("Error", {}).get("Code", ""):
                raise
            absent.append(group_id)
    if scope.tag_key is not None:
        label = scope.tag_key + ("" if scope.tag_value is None else f"={scope.tag_value}")
        if scope.tag_value is None:
            tag_filter = {"Name": "tag-key", "Values": [scope.tag_key]}
        else:
            tag_filter = {"Name": f"tag:{scope.tag_key}", "Values": [scope.tag_value]}
        tagged = listing(ec2, "describe_security_groups", "SecurityGroups", Filters=[tag_filter])
        if tagged:
            found.append(f"{len(tagged)} group(s) tagged {label}")
        else:
            absent.append(f"any group tagged {label}")
    if absent:
        return False, f"not found: {', '.join(absent)}"
    return True, ", ".join(found)
