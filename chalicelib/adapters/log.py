"""One JSON object per line, with the same keys every time, for every decision.

CloudWatch Logs Insights and metric filters can then query fields such as
``outcome`` or ``group_id`` without parsing prose.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

# Every line carries all of these, null when they do not apply.
KEYS = ("time", "level", "message", "event_id", "event_name", "group_id", "actor", "outcome", "dry_run", "rules")


class Level(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class DecisionLog:
    def __init__(self, stream: IO[str] | None = None) -> None:
        # Resolved per write, so a stream swapped in by a test (or Lambda) is honoured.
        self._stream = stream

    def write(self, level: Level, message: str, outcome: str, **fields: Any) -> dict[str, Any]:
        line: dict[str, Any] = dict.fromkeys(KEYS)
        line.update(fields)
        line.update(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            level=level,
            message=message,
            outcome=outcome,
        )
        stream = self._stream or sys.stdout
        # ASCII only: U+2028 and friends would split the line for any reader that splits on them.
        stream.write(json.dumps(line, default=str) + "\n")
        stream.flush()
        return line
