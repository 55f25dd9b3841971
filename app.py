"""sg-sentry: reverts forbidden security-group changes reported by CloudTrail and emails what happened.

The handlers only hand over; reading, judging, reverting and reporting live
in chalicelib, each way in a use case (chalicelib/usecases/handle_event.py
for an event, chalicelib/usecases/sweep.py for the scheduled sweep and,
in an organization, chalicelib/usecases/fan_out.py for its round of workers).
"""

import os
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent

from chalicelib.cloudtrail.indirect import RUNNING
from chalicelib.cloudtrail.records import DETAIL_TYPE, EVENT_SOURCE
from chalicelib.domain.change import EVENT_NAMES, STATE_CHANGE
from chalicelib.domain.config import sweep_minutes, sweep_queue
from chalicelib.usecases.handle_event import handle

app = Chalice(app_name="sg-sentry")

# EventBridge delivers only these to the function: the CloudTrail records of rule changes and of the calls
# that can open a guarded group without one (its tags, prefix lists, interfaces: chalicelib/cloudtrail/
# indirect.py), and the notice that an instance is running, however it was launched.
SECURITY_GROUP_CHANGES = {
    "source": ["aws.ec2"],
    "detail-type": [DETAIL_TYPE, STATE_CHANGE],
    "detail": {
        "$or": [
            {"eventSource": [EVENT_SOURCE], "eventName": list(EVENT_NAMES)},
            {"state": [RUNNING]},
        ]
    },
}
# Read at import because Chalice deploys the schedule from it, with the
# stage's environment variables set: SENTRY_SWEEP_MINUTES in config.json.
SWEEP_RATE = Rate(sweep_minutes(os.environ), unit=Rate.MINUTES)
# An organization's stage names the queue its sweep fans out through (one message per account and region);
# the worker exists only then, so that a single account's deployment needs no queue.
SWEEP_QUEUE = sweep_queue(os.environ)


def home_account(context: Any) -> str | None:
    """The function's own ARN names the deployment's account: no call to STS to know where it stands."""
    arn = getattr(context, "invoked_function_arn", "") or ""
    return arn.split(":")[4] if arn.count(":") >= 5 else None


@app.on_cw_event(SECURITY_GROUP_CHANGES, name="on_security_group_change")
def on_security_group_change(event: CloudWatchEvent) -> dict[str, Any]:
    return handle(event.to_dict(), home=home_account(event.context))


@app.schedule(SWEEP_RATE, name="sweep")
def scheduled_sweep(event: CloudWatchEvent) -> dict[str, Any]:
    # Imported here, so the event function's cold start does not load the sweep's modules.
    from chalicelib.usecases.fan_out import scheduled_round

    return scheduled_round(home=home_account(event.context))


if SWEEP_QUEUE is not None:

    @app.on_sqs_message(queue=SWEEP_QUEUE, batch_size=1, name="sweep_worker")
    def sweep_worker(event: SQSEvent) -> None:
        from chalicelib.usecases.fan_out import sweep_message

        for record in event:
            # SQS delivers a message again until the worker returns; the queue's redrive policy then
            # moves it to the dead-letter queue. The attempt number tells the last attempt.
            attempt = int(record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1))
            sweep_message(record.body, attempt, home=home_account(event.context))
