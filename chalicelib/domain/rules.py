"""Security-group rules as atomic values: one rule per source.

AWS adds, revokes and numbers rules per source (one CIDR, one IPv6 CIDR,
one prefix list or one referenced group), whatever the shape of the request
that created them. So every permission is expanded into one `Rule` per
source as soon as it is read, and everything downstream compares, decides
and reverts single rules.

This module holds the values, the text people read, and the two boto3
converters (from the describe/authorize shapes, to `IpPermissions`).
CloudTrail's shapes are read in `chalicelib.cloudtrail`. Nothing here performs I/O.

A rule AWS holds but this module cannot read (moto, for one, accepts tcp
with ports -1 or 23-21) becomes an `UnreadableRule`, never an exception that
stops the reading of every other rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"
    # A modified rule that vanished before the sentry could look it up:
    # CloudTrail does not record a modified rule's direction.
    UNKNOWN = "direction unknown"


class SourceKind(StrEnum):
    CIDR_IPV4 = "cidr-ipv4"
    CIDR_IPV6 = "cidr-ipv6"
    PREFIX_LIST = "prefix-list"
    SECURITY_GROUP = "security-group"


ALL_PROTOCOLS = "-1"
PORTED_PROTOCOLS = frozenset({"tcp", "udp"})
ICMP_PROTOCOLS = frozenset({"icmp", "icmpv6"})

# AWS accepts a protocol by name or by IANA number; it answers with names for
# these and with the number for every other protocol.
_PROTOCOL_ALIASES = {
    "6": "tcp",
    "17": "udp",
    "1": "icmp",
    "58": "icmpv6",
    "all": ALL_PROTOCOLS,
    "-1": ALL_PROTOCOLS,
}


def normalize_protocol(value: object) -> str:
    """Return the canonical protocol: tcp, udp, icmp, icmpv6, -1, or a number."""
    text = str(value).strip().lower()
    text = _PROTOCOL_ALIASES.get(text, text)
    if text in PORTED_PROTOCOLS or text in ICMP_PROTOCOLS or text == ALL_PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return str(int(text))
    raise ValueError(f"unknown IP protocol {value!r}")


def _port(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"port must be a number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"port must be a number, got {value!r}") from None


def normalize_ports(protocol: str, from_port: object, to_port: object) -> tuple[int | None, int | None]:
    """Return the port range AWS stores for a protocol, validated.

    tcp and udp carry a port range; icmp carries a type and a code (-1 for
    all); every other protocol, all-traffic included, ignores ports, which
    CloudTrail may still log as 0-65535 or -1.
    """
    low, high = _port(from_port), _port(to_port)
    if protocol in PORTED_PROTOCOLS:
        if low is None or high is None:
            raise ValueError(f"{protocol} rule needs both fromPort and toPort")
        if not (0 <= low <= high <= 65535):
            raise ValueError(f"invalid {protocol} port range {low}-{high}")
        return low, high
    if protocol in ICMP_PROTOCOLS:
        low = -1 if low is None else low
        high = -1 if high is None else high
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise ValueError(f"invalid {protocol} type/code {low}/{high}")
        return low, high
    return None, None


@dataclass(frozen=True)
class Source:
    """Where a rule lets traffic come from (ingress) or go to (egress)."""

    kind: SourceKind
    # As AWS was given it: revoking by permission sends it back verbatim.
    value: str = field(compare=False)
    # Account that owns a referenced security group, when AWS tells us.
    owner: str | None = field(default=None, compare=False)
    # What equality compares: CIDRs as networks (2001:DB8::/32 is 2001:db8::/32).
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not self.value:
            raise ValueError(f"{self.kind} source must be non-empty text, got {self.value!r}")
        key = self.value
        if self.kind in (SourceKind.CIDR_IPV4, SourceKind.CIDR_IPV6):
            version = 4 if self.kind is SourceKind.CIDR_IPV4 else 6
            # strict=False: AWS accepts host bits (198.51.100.7/0) and so must we.
            network = ip_network(self.value, strict=False)
            if network.version != version:
                raise ValueError(f"{self.value!r} is not an IPv{version} CIDR")
            key = str(network)
        elif self.kind is SourceKind.PREFIX_LIST and not self.value.startswith("pl-"):
            raise ValueError(f"{self.value!r} is not a prefix list ID")
        elif self.kind is SourceKind.SECURITY_GROUP and not self.value.startswith("sg-"):
            raise ValueError(f"{self.value!r} is not a security group ID")
        object.__setattr__(self, "key", key)

    @property
    def network(self) -> IPv4Network | IPv6Network:
        """The CIDR as a network, for comparisons; only for CIDR sources."""
        return ip_network(self.value, strict=False)

    def __str__(self) -> str:
        if self.kind is SourceKind.PREFIX_LIST:
            return f"prefix list {self.value}"
        if self.kind is SourceKind.SECURITY_GROUP:
            return f"security group {self.value}" + (f" (account {self.owner})" if self.owner else "")
        return self.value


@dataclass(frozen=True)
class Rule:
    """One security-group rule: direction, protocol, ports and one source.

    Equality is AWS's notion of "the same rule": the description and the
    rule ID do not take part, so sets of rules can be compared directly.
    """

    direction: Direction
    protocol: str
    from_port: int | None
    to_port: int | None
    source: Source
    description: str | None = field(default=None, compare=False)
    rule_id: str | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        direction: Direction,
        protocol: object,
        from_port: object,
        to_port: object,
        source: Source,
        description: object = None,
        rule_id: object = None,
    ) -> Rule:
        """Normalize protocol and ports, then construct: the one way rules are made."""
        proto = normalize_protocol(protocol)
        low, high = normalize_ports(proto, from_port, to_port)
        return cls(
            direction=direction,
            protocol=proto,
            from_port=low,
            to_port=high,
            source=source,
            description=str(description) if description not in (None, "") else None,
            rule_id=str(rule_id) if rule_id else None,
        )

    @property
    def port_text(self) -> str:
        if self.protocol in PORTED_PROTOCOLS:
            if (self.from_port, self.to_port) == (0, 65535):
                return "all ports"
            if self.from_port == self.to_port:
                return str(self.from_port)
            return f"{self.from_port}-{self.to_port}"
        if self.protocol in ICMP_PROTOCOLS:
            if self.from_port == -1:
                return "all types"
            code = "all codes" if self.to_port == -1 else f"code {self.to_port}"
            return f"type {self.from_port} {code}"
        return ""

    @property
    def protocol_text(self) -> str:
        if self.protocol == ALL_PROTOCOLS:
            return "all traffic"
        if self.protocol.isdigit():
            return f"protocol {self.protocol}"
        return self.protocol

    def __str__(self) -> str:
        """The rule in human terms, e.g. ``tcp 22 from 0.0.0.0/0, ingress``."""
        what = " ".join(part for part in (self.protocol_text, self.port_text) if part)
        preposition = "to" if self.direction is Direction.EGRESS else "from"
        return f"{what} {preposition} {self.source}, {self.direction}"


@dataclass(frozen=True)
class UnreadableRule:
    """A rule AWS holds (or a record names) that cannot be read into a `Rule`.

    Known by its ID when AWS gave one: in lockdown mode it is then revoked
    by that ID, since no baseline can approve a rule nobody can read.
    """

    direction: Direction
    # What was read, cut short, for the report.
    text: str
    problem: str
    rule_id: str | None = None

    def __str__(self) -> str:
        named = f"rule {self.rule_id}" if self.rule_id else "a rule"
        return f"{named} ({self.direction}) that cannot be read: {self.problem}: {self.text}"


def excerpt(fragment: object, limit: int = 200) -> str:
    """A raw fragment as short JSON text, for reports about what could not be read."""
    text = json.dumps(fragment, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_problem(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error) or type(error).__name__


READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


# --- boto3 shapes -----------------------------------------------------------


def rules_from_ip_permission(permission: Mapping[str, Any], direction: Direction) -> list[Rule]:
    """Expand one boto3 ``IpPermission`` into one rule per source."""
    proto = permission["IpProtocol"]
    low, high = permission.get("FromPort"), permission.get("ToPort")

    def rule(source: Source, entry: Mapping[str, Any]) -> Rule:
        return Rule.build(direction, proto, low, high, source, entry.get("Description"))

    rules = [rule(Source(SourceKind.CIDR_IPV4, r["CidrIp"]), r) for r in permission.get("IpRanges", [])]
    rules += [rule(Source(SourceKind.CIDR_IPV6, r["CidrIpv6"]), r) for r in permission.get("Ipv6Ranges", [])]
    rules += [rule(Source(SourceKind.PREFIX_LIST, r["PrefixListId"]), r) for r in permission.get("PrefixListIds", [])]
    rules += [
        rule(Source(SourceKind.SECURITY_GROUP, p["GroupId"], p.get("UserId")), p)
        for p in permission.get("UserIdGroupPairs", [])
    ]
    return rules


def read_ip_permissions(
    permissions: Iterable[Mapping[str, Any]], direction: Direction
) -> tuple[list[Rule], list[UnreadableRule]]:
    """Every readable rule of these permissions, and what could not be read (one entry per permission)."""
    rules: list[Rule] = []
    unreadable: list[UnreadableRule] = []
    for permission in permissions:
        try:
            rules += rules_from_ip_permission(permission, direction)
        except READ_ERRORS as error:
            unreadable.append(UnreadableRule(direction, excerpt(permission), describe_problem(error)))
    return rules, unreadable


def read_security_group_rule(item: Mapping[str, Any]) -> Rule | UnreadableRule:
    """One entry of ``SecurityGroupRules``, or what is known of it when it cannot be read."""
    try:
        return rule_from_security_group_rule(item)
    except READ_ERRORS as error:
        direction = Direction.EGRESS if item.get("IsEgress") is True else Direction.INGRESS
        rule_id = item.get("SecurityGroupRuleId")
        return UnreadableRule(
            direction, excerpt(item), describe_problem(error), rule_id if isinstance(rule_id, str) else None
        )


def rule_from_security_group_rule(item: Mapping[str, Any]) -> Rule:
    """Read one entry of boto3's ``SecurityGroupRules`` (describe or authorize)."""
    referenced = item.get("ReferencedGroupInfo") or {}
    if item.get("CidrIpv4"):
        source = Source(SourceKind.CIDR_IPV4, item["CidrIpv4"])
    elif item.get("CidrIpv6"):
        source = Source(SourceKind.CIDR_IPV6, item["CidrIpv6"])
    elif item.get("PrefixListId"):
        source = Source(SourceKind.PREFIX_LIST, item["PrefixListId"])
    elif referenced.get("GroupId"):
        source = Source(SourceKind.SECURITY_GROUP, referenced["GroupId"], referenced.get("UserId"))
    else:
        raise ValueError(f"security group rule {item.get('SecurityGroupRuleId')!r} has no source")
    direction = Direction.EGRESS if item.get("IsEgress") else Direction.INGRESS
    return Rule.build(
        direction,
        item["IpProtocol"],
        item.get("FromPort"),
        item.get("ToPort"),
        source,
        item.get("Description"),
        item.get("SecurityGroupRuleId"),
    )


def to_ip_permissions(rules: Iterable[Rule], descriptions: bool = False) -> list[dict[str, Any]]:
    """Group rules into boto3 ``IpPermissions``, one permission per protocol and port range.

    Descriptions are left out unless asked for: to revoke, AWS matches rules
    without them; to restore an approved rule, they are part of it.
    """
    permissions: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for rule in rules:
        key = (rule.protocol, rule.from_port, rule.to_port)
        permission = permissions.get(key)
        if permission is None:
            permission = {"IpProtocol": rule.protocol}
            if rule.from_port is not None:
                permission["FromPort"] = rule.from_port
                permission["ToPort"] = rule.to_port
            elif rule.protocol != ALL_PROTOCOLS:
                # Another protocol by number: AWS ignores its ports, but a request without them
                # is refused by emulators (moto crashes on it), and -1 means "every port" anyway.
                permission["FromPort"] = permission["ToPort"] = -1
            permissions[key] = permission
        source = rule.source
        note = {"Description": rule.description} if descriptions and rule.description else {}
        if source.kind is SourceKind.CIDR_IPV4:
            permission.setdefault("IpRanges", []).append({"CidrIp": source.value} | note)
        elif source.kind is SourceKind.CIDR_IPV6:
            permission.setdefault("Ipv6Ranges", []).append({"CidrIpv6": source.value} | note)
        elif source.kind is SourceKind.PREFIX_LIST:
            permission.setdefault("PrefixListIds", []).append({"PrefixListId": source.value} | note)
        else:
            pair = {"GroupId": source.value} | ({"UserId": source.owner} if source.owner else {})
            permission.setdefault("UserIdGroupPairs", []).append(pair | note)
    return list(permissions.values())


def to_rule_request(rule: Rule) -> dict[str, Any]:
    """boto3's ``SecurityGroupRuleRequest``: a rule's definition for ModifySecurityGroupRules."""
    request: dict[str, Any] = {
        "IpProtocol": rule.protocol,
        # The API wants ports even where the protocol ignores them.
        "FromPort": -1 if rule.from_port is None else rule.from_port,
        "ToPort": -1 if rule.to_port is None else rule.to_port,
    }
    field_name = {
        SourceKind.CIDR_IPV4: "CidrIpv4",
        SourceKind.CIDR_IPV6: "CidrIpv6",
        SourceKind.PREFIX_LIST: "PrefixListId",
        SourceKind.SECURITY_GROUP: "ReferencedGroupId",
    }[rule.source.kind]
    request[field_name] = rule.source.value
    if rule.description:
        request["Description"] = rule.description
    return request


# --- the rule's text, read back -------------------------------------------------

_RULE_TEXT = re.compile(
    r"(?P<what>.+?)\s+(?P<preposition>from|to)\s+(?P<source>.+?)(?:\s*,\s*(?P<direction>ingress|egress))?",
    re.IGNORECASE,
)
_ICMP_TYPE = re.compile(r"type (?P<type>-?\d+) (?:all codes|code (?P<code>-?\d+))")
_OWNER = re.compile(r"(?P<group>sg-\S+) \(account (?P<owner>\d{12})\)")
RULE_GRAMMAR = (
    '"PROTOCOL PORTS from SOURCE[, ingress]" or "... to SOURCE, egress": tcp 22 from 203.0.113.4/32; '
    "udp 1000-2000 from 2001:db8::/32; tcp all ports from 198.51.100.0/24; icmp all types from 192.0.2.1/32; "
    "icmp type 8 all codes from ...; all traffic to 0.0.0.0/0, egress; protocol 50 from ...; "
    "sources: a CIDR, prefix list pl-..., security group sg-..."
)


def rule_from_text(text: str) -> Rule:
    """The `Rule` that `str(rule)` writes as `text` (``tcp 22 from 0.0.0.0/0, ingress``); raises ValueError.

    The reports' own words, read back: what a person copies from an email
    names the rule the sentry will match. Without ``, ingress`` or
    ``, egress``, ``from`` is ingress and ``to`` egress. One source per rule,
    as AWS counts rules.
    """
    cleaned = " ".join(str(text).split())
    try:
        return _rule_from_text(cleaned)
    except ValueError as error:
        raise ValueError(f"cannot read rule {cleaned[:80]!r}: {error}") from None


def _rule_from_text(cleaned: str) -> Rule:
    matched = _RULE_TEXT.fullmatch(cleaned)
    if matched is None:
        raise ValueError(f"expected {RULE_GRAMMAR}")
    preposition = matched["preposition"].lower()
    implied = Direction.EGRESS if preposition == "to" else Direction.INGRESS
    direction = Direction(matched["direction"].lower()) if matched["direction"] else implied
    if direction is not implied:
        raise ValueError("an ingress rule is 'from' its source, an egress rule 'to' it")
    protocol, low, high = _protocol_and_ports(matched["what"].lower())
    return Rule.build(direction, protocol, low, high, _source_from_text(matched["source"]))


def _protocol_and_ports(what: str) -> tuple[str, int | None, int | None]:
    if what == "all traffic":
        return ALL_PROTOCOLS, None, None
    if what.startswith("protocol "):
        number = what.removeprefix("protocol ")
        if not number.isdigit():
            raise ValueError(f"protocol {number!r} is not a number")
        return normalize_protocol(number), None, None
    protocol, _, ports = what.partition(" ")
    protocol = normalize_protocol(protocol)
    if protocol in PORTED_PROTOCOLS:
        if ports == "all ports":
            return protocol, 0, 65535
        low, dash, high = ports.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"{protocol} needs a port or a range (22, 1000-2000, all ports), got {ports!r}")
        return protocol, int(low), int(high if dash else low)
    if protocol in ICMP_PROTOCOLS:
        if ports == "all types":
            return protocol, -1, -1
        icmp = _ICMP_TYPE.fullmatch(ports)
        if icmp is None:
            raise ValueError(f"{protocol} needs 'all types' or 'type N all codes' / 'type N code M', got {ports!r}")
        return protocol, int(icmp["type"]), int(icmp["code"] or -1)
    if ports:
        raise ValueError(f"protocol {protocol} carries no ports, got {ports!r}")
    return protocol, None, None


def _source_from_text(text: str) -> Source:
    lowered = text.lower()
    if lowered.startswith("prefix list "):
        return Source(SourceKind.PREFIX_LIST, text[len("prefix list ") :])
    if lowered.startswith("security group "):
        named = text[len("security group ") :]
        owned = _OWNER.fullmatch(named)
        if owned is not None:
            return Source(SourceKind.SECURITY_GROUP, owned["group"], owned["owner"])
        return Source(SourceKind.SECURITY_GROUP, named)
    kind = SourceKind.CIDR_IPV6 if ":" in text else SourceKind.CIDR_IPV4
    if "/" not in text:
        raise ValueError(f"source {text!r}: write a CIDR with its length (203.0.113.4/32), a prefix list or a group")
    return Source(kind, text)
