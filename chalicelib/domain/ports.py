"""The ports the use cases work through: what they need of AWS, as Protocols.

`chalicelib.adapters` implements each over boto3 (`adapters.boto.BotoAws`
hands them out); the unit tests implement them in memory
(`tests/fakes.py`). A port's reads raise `AwsError` when AWS cannot answer;
its writes never raise: each rule, tag or interface comes back with its own
result, so that nothing done (or not done) is missing from the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from chalicelib.domain.accounts import Place
from chalicelib.domain.allowances import Allowance
from chalicelib.domain.baseline import ApprovedGroup, Baseline
from chalicelib.domain.change import Actor
from chalicelib.domain.config import Settings
from chalicelib.domain.groups import GroupInfo, GroupRules, ListedGroup, RestoreResult, RevokeResult
from chalicelib.domain.interfaces import Interface
from chalicelib.domain.policy import GroupScope
from chalicelib.domain.prefix_lists import PrefixList
from chalicelib.domain.rules import Direction, Rule, UnreadableRule


class SecurityGroupsPort(Protocol):
    """The security groups of one region, and their rules."""

    def cached_group(self, group_id: str) -> GroupInfo | None:
        """The group as last read (within the cache's time), with no call; only ever trusted to say "guarded"."""
        ...

    def describe_group(self, group_id: str, fresh: bool = False) -> GroupInfo | None: ...

    def find_group_by_name(self, name: str) -> GroupInfo | None: ...

    def describe_rules(self, rule_ids: Sequence[str]) -> dict[str, Rule]: ...

    def guarded_groups_with_rules(self, scope: GroupScope) -> list[ListedGroup]: ...

    def groups_with_rules(self, group_ids: Sequence[str]) -> list[ListedGroup]: ...

    def rules_by_group(self, group_ids: Sequence[str] | None) -> dict[str, GroupRules]: ...

    def group_rules(self, group_id: str) -> GroupRules: ...

    def revoke(
        self, group_id: str, direction: Direction, rules: Sequence[Rule], by_rule_id: bool = True
    ) -> list[RevokeResult]: ...

    def revoke_unreadable(
        self, group_id: str, direction: Direction, items: Sequence[UnreadableRule]
    ) -> list[RevokeResult]: ...

    def authorize(self, group_id: str, direction: Direction, rules: Sequence[Rule]) -> list[RestoreResult]: ...

    def redefine(self, group_id: str, pairs: Sequence[tuple[Rule, Rule]]) -> list[RestoreResult]: ...

    def tag_group(self, group_id: str, key: str, value: str) -> str | None:
        """Set one tag; AWS's error in words, or None."""
        ...


class PrefixListsPort(Protocol):
    def read(self, list_ids: Iterable[str]) -> dict[str, PrefixList | None]:
        """Each list with its entries (or its `error`), None for a list that does not exist."""
        ...


class InterfacesPort(Protocol):
    def every(self) -> list[Interface]: ...

    def of_workloads(
        self, instance_ids: Iterable[str], interface_ids: Iterable[str], carrying: Iterable[str] = ()
    ) -> list[Interface]: ...

    def these(self, interface_ids: Iterable[str]) -> list[Interface]: ...

    def set_groups(self, interface_id: str, group_ids: Sequence[str]) -> str | None:
        """Give an interface exactly these groups; AWS's error in words, or None."""
        ...


class Message(Protocol):
    """What a notifier sends: a report (`chalicelib.reports.fit.Report`)."""

    @property
    def subject(self) -> str: ...

    def sns_message(self) -> str: ...


class NotifierPort(Protocol):
    def publish(self, report: Message) -> str:
        """Send the message; its ID. Raises `NotificationFailed`."""
        ...


class IdentityPort(Protocol):
    def made(self, actor: Actor) -> bool:
        """Whether `actor` is the sentry itself (this function or its sibling)."""
        ...


class OrganizationPort(Protocol):
    def active_accounts(self) -> Mapping[str, str]:
        """Account ID -> name, for every active account of the organization."""
        ...


class BaselinesPort(Protocol):
    """The approved baseline, where it is kept: the file (the deployment's own account) or the table."""

    def group(self, account: str | None, region: str, group_id: str) -> ApprovedGroup | None:
        """The group's entry; `account` None: the deployment's own."""
        ...

    def region(self, account: str | None, region: str) -> Baseline:
        """The region's entries and its exceptions (`Baseline.allowances`)."""
        ...

    def allowances(self, account: str | None, region: str, group_id: str) -> tuple[Allowance, ...]:
        """The group's time-boxed exceptions, valid or expired (`sentry allow`); the functions never write them."""
        ...


class SweepRoundsPort(Protocol):
    """The tally of sweep rounds fanned out through the queue."""

    def open(self, round_id: str, places: Sequence[Place]) -> None: ...

    def record(self, round_id: str, place: Place, findings: Mapping[str, Any]) -> int | None:
        """Keep the place's findings; the places left, or None if this place was recorded already."""
        ...

    def findings(self, round_id: str) -> dict[Place, dict[str, Any]]: ...

    def latest(self) -> str | None: ...

    def close(self, round_id: str) -> list[Place] | None:
        """End a round still open: the places that never reported; None if it had ended already."""
        ...


class SweepQueuePort(Protocol):
    def send(self, round_id: str, places: Iterable[Place]) -> int: ...


class Aws(Protocol):
    """Every port, per region, in one account: what a use case is given to work through.

    `acting_in` gives the same ports in a member account; the notifier, the
    organization and the baseline are always the deployment's own.
    """

    def security_groups(self, region: str) -> SecurityGroupsPort: ...

    def prefix_lists(self, region: str) -> PrefixListsPort: ...

    def interfaces(self, region: str) -> InterfacesPort: ...

    def notifier(self, topic_arn: str) -> NotifierPort: ...

    def own_identity(self, region: str, env: Mapping[str, str]) -> IdentityPort: ...

    def home_account(self) -> str:
        """The deployment's own account."""
        ...

    def acting_in(self, account: str, session: str, role: str) -> Aws:
        """These ports in `account`, through `role` assumed as `session`; raises `AwsError`."""
        ...

    def organization(self) -> OrganizationPort: ...

    def baselines(self, settings: Settings, home: Callable[[], str]) -> BaselinesPort:
        """The baseline's store; `home` names the deployment's own account (asked only if needed)."""
        ...

    def sweep_rounds(self, table: str) -> SweepRoundsPort: ...

    def sweep_queue(self, name: str) -> SweepQueuePort: ...
