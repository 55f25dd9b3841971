"""What to judge as it is now: everything (the schedule), or what one event points at."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Selection:
    """What to judge: every guarded group and interface (the schedule), or what one event points at."""

    groups: bool = True
    # None: every guarded group. Otherwise these (those of them that are guarded).
    group_ids: frozenset[str] | None = None
    # Only groups with a rule that references one of these lists.
    prefix_lists: frozenset[str] | None = None
    # Groups judged as guarded whatever their tags say (a guard tag removed, even if it could not be put back).
    forced: frozenset[str] = frozenset()
    interfaces: bool = True
    # All None: every interface. Otherwise these instances' interfaces, these interfaces' workloads, and the
    # workloads of the interfaces that carry one of the `beside` groups.
    instance_ids: frozenset[str] | None = None
    interface_ids: frozenset[str] | None = None
    beside: frozenset[str] | None = None

    @property
    def every_interface(self) -> bool:
        return self.instance_ids is None and self.interface_ids is None and self.beside is None


EVERYTHING = Selection()
