"""The approved baseline: the rules each group should have, as data that deploys with the app.

`sentry snapshot` writes it; the sentry only reads it. It lives in
``chalicelib/baseline.json`` because Chalice packages that folder as it is:
the approved rules are then reviewed in version control like the code, are
fixed for the life of a deployment, and need no S3 or SSM permission nor a
store that an attacker could rewrite at run time.

A group with an entry here is held to exactly these rules in lockdown mode;
a group without one is guarded as before (every change reverted). A group
with an entry is guarded whatever its tags say: a tag is the actor's to
change, this file is not.

A rule whose source is a prefix list is approved together with what the
list held when the baseline was taken (the group's ``prefix_lists``): a list
changed since to reach further no longer makes that rule the approved one.

The store also keeps the time-boxed exceptions `sentry allow` grants
(``allowances``, `domain.allowances`): the same store, for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

from chalicelib.domain.allowances import Allowance, AllowanceError, allowance_document, allowance_from_document
from chalicelib.domain.ids import GROUP_ID, REGION
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind

FORMAT = "sg-sentry baseline 1"


class BaselineError(ValueError):
    """The baseline cannot be read; the message says where and why."""


@dataclass(frozen=True)
class ApprovedGroup:
    group_id: str
    region: str
    name: str | None
    # Rule IDs are kept when snapshotted: a rule modified in place can then
    # be put back in place. Equality, as always, ignores them.
    rules: tuple[Rule, ...]
    # Each prefix list the rules reference -> the CIDRs it held when they were approved.
    prefix_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def approved(self) -> frozenset[Rule]:
        return frozenset(self.rules)


@dataclass(frozen=True)
class Baseline:
    groups: Mapping[str, ApprovedGroup] = field(default_factory=dict)
    taken_at: str | None = None
    # Time-boxed exceptions (`sentry allow`), valid or expired: kept until revoked, for the record.
    allowances: tuple[Allowance, ...] = ()

    def for_group(self, group_id: str, region: str) -> ApprovedGroup | None:
        """The group's approved rules, if the baseline has them for this region."""
        entry = self.groups.get(group_id)
        return entry if entry is not None and entry.region == region else None

    def group_ids(self, region: str) -> frozenset[str]:
        """The groups with an entry in this region: guarded whatever their tags say."""
        return frozenset(group_id for group_id, entry in self.groups.items() if entry.region == region)

    def in_region(self, region: str) -> Baseline:
        """Only the entries of `region`."""
        groups = {g: entry for g, entry in self.groups.items() if entry.region == region}
        return Baseline(groups, self.taken_at, tuple(a for a in self.allowances if a.region == region))

    def with_groups(self, groups: Iterable[ApprovedGroup], taken_at: str) -> Baseline:
        """This baseline with these groups' entries replaced (or added)."""
        merged = dict(self.groups)
        merged.update((group.group_id, group) for group in groups)
        return Baseline(merged, taken_at, self.allowances)

    def with_allowances(self, allowances: Iterable[Allowance]) -> Baseline:
        """This baseline holding exactly these exceptions."""
        ordered = sorted(allowances, key=lambda a: (a.granted_at, a.allowance_id))
        return Baseline(self.groups, self.taken_at, tuple(ordered))

    def to_document(self) -> dict[str, Any]:
        """The JSON document, sorted so that a re-snapshot diffs cleanly in review."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "taken_at": self.taken_at,
            "groups": {group_id: group_document(group) for group_id, group in sorted(self.groups.items())},
        }
        if self.allowances:
            document["allowances"] = [allowance_document(allowance) for allowance in self.allowances]
        return document

    @classmethod
    def from_document(cls, document: Any) -> Baseline:
        if not isinstance(document, Mapping) or document.get("format") != FORMAT:
            raise BaselineError(f"not a baseline: expected an object with format {FORMAT!r}")
        groups_doc = document.get("groups")
        if not isinstance(groups_doc, Mapping):
            raise BaselineError("'groups' must be an object keyed by security group ID")
        groups = {}
        for group_id, entry in groups_doc.items():
            groups[group_id] = group_from_document(group_id, entry)
        taken_at = document.get("taken_at")
        allowances = document.get("allowances", [])
        if not isinstance(allowances, list):
            raise BaselineError("'allowances' must be a list of exceptions")
        try:
            read = tuple(allowance_from_document(item) for item in allowances)
        except AllowanceError as error:
            raise BaselineError(str(error)) from None
        return cls(groups, str(taken_at) if taken_at else None, read)


def group_document(group: ApprovedGroup) -> dict[str, Any]:
    document: dict[str, Any] = {
        "region": group.region,
        "name": group.name,
        "rules": sorted((_rule_document(rule) for rule in group.rules), key=_sort_key),
    }
    if group.prefix_lists:
        document["prefix_lists"] = {list_id: sorted(cidrs) for list_id, cidrs in sorted(group.prefix_lists.items())}
    return document


def group_from_document(group_id: str, entry: Any) -> ApprovedGroup:
    where = f"group {group_id!r}"
    if not GROUP_ID.fullmatch(str(group_id)):
        raise BaselineError(f"{where}: not a security group ID")
    if not isinstance(entry, Mapping):
        raise BaselineError(f"{where}: expected an object with region, name and rules")
    region = entry.get("region")
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise BaselineError(f"{where}: region {region!r} is not an AWS region")
    rules_doc = entry.get("rules")
    if not isinstance(rules_doc, list):
        raise BaselineError(f"{where}: 'rules' must be a list (empty for a group that should have none)")
    rules: list[Rule] = []
    for number, item in enumerate(rules_doc, start=1):
        try:
            rule = _rule(item)
        except (KeyError, TypeError, ValueError) as error:
            detail = f"missing {error.args[0]!r}" if isinstance(error, KeyError) else str(error)
            raise BaselineError(f"{where}, rule {number}: {detail}") from None
        if rule in rules:
            raise BaselineError(f"{where}, rule {number}: {rule} is listed twice")
        rules.append(rule)
    # A baseline taken before lists were judged by their entries has none: see policy.reaches_past_approval.
    lists = _prefix_lists(where, entry.get("prefix_lists", {}))
    name = entry.get("name")
    return ApprovedGroup(group_id, region, str(name) if name else None, tuple(rules), lists)


def _prefix_lists(where: str, document: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(document, Mapping):
        raise BaselineError(f"{where}: 'prefix_lists' must map prefix list IDs to lists of CIDRs")
    lists: dict[str, tuple[str, ...]] = {}
    for list_id, cidrs in document.items():
        if not str(list_id).startswith("pl-") or not isinstance(cidrs, list):
            raise BaselineError(f"{where}: prefix list {str(list_id)[:40]!r} must be a pl- ID with a list of CIDRs")
        for cidr in cidrs:
            try:
                ip_network(str(cidr), strict=False)
            except ValueError as error:
                raise BaselineError(f"{where}: prefix list {list_id}: {error}") from None
        lists[str(list_id)] = tuple(str(cidr) for cidr in cidrs)
    return lists


def _rule(item: Any) -> Rule:
    if not isinstance(item, Mapping):
        raise TypeError("expected an object")
    direction = Direction(item["direction"])
    if direction is Direction.UNKNOWN:
        raise ValueError("direction must be ingress or egress")
    source = Source(SourceKind(item["source_kind"]), item["source"], item.get("owner"))
    return Rule.build(
        direction,
        item["protocol"],
        item.get("from_port"),
        item.get("to_port"),
        source,
        item.get("description"),
        item.get("rule_id"),
    )


def _rule_document(rule: Rule) -> dict[str, Any]:
    document = {
        "direction": rule.direction.value,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "source_kind": rule.source.kind.value,
        "source": rule.source.value,
        "owner": rule.source.owner,
        "description": rule.description,
        "rule_id": rule.rule_id,
    }
    return {key: value for key, value in document.items() if value is not None}


def _sort_key(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """A total order (ports as numbers), so a re-snapshot of the same rules writes the same file."""
    ports = tuple(document.get(key, -2) for key in ("from_port", "to_port"))
    return (document["direction"], document["protocol"], *ports, document["source_kind"], document["source"])
