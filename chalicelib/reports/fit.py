"""A report, and the one way any report is made to fit in one SNS message.

SNS takes at most 256 KiB per message. A report that lists many rules (or
groups) is built again with shorter lists, most generous first, until its
message fits; what is left out is counted in the text, never silently lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# SNS's limit, less room for the envelope SNS adds for some protocols.
SNS_MESSAGE_LIMIT = 256 * 1024 - 4096


@dataclass(frozen=True)
class Report:
    subject: str
    text: str
    document: dict[str, Any]

    def sns_message(self) -> str:
        """The body for ``Publish(MessageStructure="json")``: text for email, JSON for every other protocol."""
        document = json.dumps(self.document, ensure_ascii=False)
        return json.dumps({"default": document, "email": self.text, "sms": self.subject})


def fitted[Limits](build: Callable[[Limits], Report], limits: Sequence[Limits]) -> Report:
    """The first report, from the most generous `limits` down, whose SNS message fits; else the shortest."""
    for limit in limits:
        report = build(limit)
        if len(report.sns_message().encode()) <= SNS_MESSAGE_LIMIT:
            break
    return report
