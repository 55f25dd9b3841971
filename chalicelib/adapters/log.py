"""One JSON object per line, with the same keys every time, for every decision.

CloudWatch Logs Insights and metric filters can then query fields such as
``outcome`` or ``group_id`` without parsing prose.

A line that says how a change or a judgement went also carries its numbers
(`chalicelib/domain/metrics.py`) in CloudWatch's Embedded Metric Format:
CloudWatch Logs turns them into metrics as it stores the line, so counting
costs no API call. EMF adds "_aws", the dimensions ("Mode", "Account") and
one member per metric to the line; the keys of `KEYS` stay as they are.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

from chalicelib.domain.metrics import Measures, Metric

# Every line carries all of these, null when they do not apply.
KEYS = ("time", "level", "message", "event_id", "event_name", "group_id", "actor", "outcome", "dry_run", "rules")


# The metrics' namespace in CloudWatch; the merge templates' alarms and dashboard name the same.
NAMESPACE = "sg-sentry"
MODE, ACCOUNT = "Mode", "Account"
# Each metric per mode and account, per mode, and in all (the empty set): an alarm watches the total.
DIMENSION_SETS: tuple[tuple[str, ...], ...] = ((MODE, ACCOUNT), (MODE,), ())
UNITS = {Metric.EXPOSURE.value: "Seconds"}
# The account dimension's value when the account acted in is not known without asking STS (outside Lambda).
UNKNOWN_ACCOUNT = "unknown"


@dataclass(frozen=True)
class Metrics:
    """A log line's numbers and the dimensions they are counted under."""

    measures: Measures
    mode: str
    account: str


def embedded(metrics: Metrics, when: datetime) -> dict[str, Any]:
    """The members a line gains to carry `metrics` in the Embedded Metric Format."""
    values = metrics.measures.values()
    directive = {
        "Namespace": NAMESPACE,
        "Dimensions": [list(names) for names in DIMENSION_SETS],
        "Metrics": [{"Name": name, "Unit": UNITS.get(name, "Count")} for name in values],
    }
    timestamp = int(when.timestamp() * 1000)
    return {
        "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]},
        MODE: metrics.mode,
        ACCOUNT: metrics.account,
    } | values


class Level(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class DecisionLog:
    def __init__(self, stream: IO[str] | None = None) -> None:
        # Resolved per write, so a stream swapped in by a test (or Lambda) is honoured.
        self._stream = stream

    def write(
        self, level: Level, message: str, outcome: str, metrics: Metrics | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Write one line; with `metrics`, in the Embedded Metric Format too (its time is the line's)."""
        now = datetime.now(UTC)
        line: dict[str, Any] = dict.fromkeys(KEYS)
        line.update(fields)
        line.update(time=now.isoformat(timespec="milliseconds"), level=level, message=message, outcome=outcome)
        if metrics is not None:
            line.update(embedded(metrics, now))
        stream = self._stream or sys.stdout
        # ASCII only: U+2028 and friends would split the line for any reader that splits on them.
        stream.write(json.dumps(line, default=str) + "\n")
        stream.flush()
        return line
