"""A sweep round over several accounts and regions: what each place found, and the round as a whole.

One round is one summary: each place is swept on its own (in this process,
or by a worker per place through the queue), and what it found is kept as a
`PlaceFindings` (its report's subject and text, already written), so that
the round's one message can be put together wherever the last place ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.accounts import Place


@dataclass(frozen=True)
class PlaceFindings:
    """What one place's sweep found, as its report says it; `problem` when it could not be swept at all."""

    place: Place
    label: str
    summary: str
    failed: bool
    found: bool
    groups_checked: int = 0
    subject: str = ""
    text: str = ""
    problem: str | None = None

    @property
    def worth_reporting(self) -> bool:
        return self.found or self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "place": str(self.place),
            "label": self.label,
            "summary": self.summary,
            "failed": self.failed,
            "found": self.found,
            "groups_checked": self.groups_checked,
            "subject": self.subject,
            "text": self.text,
            "problem": self.problem,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> PlaceFindings:
        return cls(
            place=Place.parse(str(document["place"])),
            label=str(document["label"]),
            summary=str(document["summary"]),
            failed=bool(document["failed"]),
            found=bool(document["found"]),
            groups_checked=int(document.get("groups_checked", 0)),
            subject=str(document.get("subject", "")),
            text=str(document.get("text", "")),
            problem=document.get("problem"),
        )


@dataclass(frozen=True)
class RoundResult:
    """Every place of one round, in order."""

    round_id: str
    dry_run: bool
    places: tuple[PlaceFindings, ...]

    @property
    def failed(self) -> bool:
        return any(place.failed for place in self.places)

    @property
    def reported(self) -> tuple[PlaceFindings, ...]:
        return tuple(place for place in self.places if place.worth_reporting)

    @property
    def summary(self) -> str:
        if self.failed:
            return "failed"
        return "found" if self.reported else "clean"

    def as_dict(self) -> dict[str, Any]:
        """The Lambda answer (and `sentry sweep --json`): a short summary per place."""
        return {
            "outcome": self.summary,
            "round": self.round_id,
            "places": [
                {"place": str(p.place), "outcome": p.summary, "groups_checked": p.groups_checked}
                | ({"problem": p.problem} if p.problem else {})
                for p in self.places
            ],
        }
