"""CloudTrail: EventBridge sees API calls only through a trail logging management write events in the region."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sentrycli.doctor.deployment import Deployment, Judgement


def check_cloudtrail(deployment: Deployment) -> Judgement:
    return trail_covers(deployment.clients("cloudtrail"), deployment.region)


def trail_covers(client: Any, region: str) -> Judgement:
    """Does a trail readable with `client` (CloudTrail, in `region`) log management write events there?"""
    trails = client.describe_trails(includeShadowTrails=True)["trailList"]
    here = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == region]
    if not here:
        return False, f"no trail covers {region}: create one (multi-region is simplest)"
    problems = []
    for trail in here:
        name = trail.get("TrailARN") or trail["Name"]
        try:
            if not client.get_trail_status(Name=name).get("IsLogging"):
                problems.append(f"{trail['Name']} is not logging")
            elif not logs_management_writes(client.get_event_selectors(TrailName=name)):
                problems.append(f"{trail['Name']} does not log management write events")
            else:
                return True, f"trail {trail['Name']} logs management write events in {region}"
        except ClientError as error:  # e.g. another account's organization trail: try the next
            problems.append(f"{trail['Name']}: {error.response.get('Error', {}).get('Code')}")
    return False, "; ".join(problems)


def logs_management_writes(selectors: dict[str, Any]) -> bool:
    """Do a trail's event selectors include management events that are not read-only?"""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return True  # a trail without selectors logs all management events (AWS's default)
    if any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "ReadOnly" for s in basic):
        return True
    for selector in advanced:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        category, read_only = fields.get("eventCategory", {}), fields.get("readOnly", {})
        management = "Management" in category.get("Equals", [])
        reads_only = read_only.get("Equals") == ["true"] or read_only.get("NotEquals") == ["false"]
        if management and not reads_only:
            return True
    return False
