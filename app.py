"""sg-sentry: reverts forbidden security-group changes reported by CloudTrail and emails what happened.

The handler only hands the event over; reading, judging, reverting and
reporting live in chalicelib (see chalicelib/sentry.py for the order).
"""

from typing import Any

from chalice.app import Chalice, CloudWatchEvent

from chalicelib.events import DETAIL_TYPE, EVENT_SOURCE, HANDLED_EVENT_NAMES
from chalicelib.sentry import handle

app = Chalice(app_name="sg-sentry")

# EventBridge delivers only these CloudTrail records to the function.
SECURITY_GROUP_CHANGES = {
    "source": ["aws.ec2"],
    "detail-type": [DETAIL_TYPE],
    "detail": {
        "eventSource": [EVENT_SOURCE],
        "eventName": list(HANDLED_EVENT_NAMES),
    },
}


@app.on_cw_event(SECURITY_GROUP_CHANGES, name="on_security_group_change")
def on_security_group_change(event: CloudWatchEvent) -> dict[str, Any]:
    return handle(event.to_dict())
