"""What the sentry guards and what it allows: policy as data, decisions as pure functions.

`GroupScope` says which security groups are guarded; `Policy` says which
rules may stay on them. `decide` looks at one rule and the actor who made it
and returns a `Decision`; it does no I/O, so every branch is a unit test.
A rule whose source is a prefix list is judged by what the list holds
(`ListContents`, read beforehand by the caller), never by its ID.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_network

from chalicelib.domain.allowances import NOTHING_GRANTED, Granted
from chalicelib.domain.change import Actor
from chalicelib.domain.prefix_lists import NO_LISTS, ListContents, PrefixList, beyond, entries_text
from chalicelib.domain.rules import ALL_PROTOCOLS, ICMP_PROTOCOLS, PORTED_PROTOCOLS, Direction, Rule, SourceKind

Network = IPv4Network | IPv6Network

# Address space that is never "the internet": RFC 1918, carrier-grade NAT,
# loopback, link-local, IPv6 unique-local, IPv6 link-local and loopback.
INTERNAL_NETWORKS: tuple[Network, ...] = tuple(
    ip_network(cidr)
    for cidr in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


LOCKDOWN_ADDS_NOTHING = "lockdown mode: no rule may be added to or changed on this group"


class Mode(StrEnum):
    # Every rule added or changed on a guarded group is reverted.
    LOCKDOWN = "lockdown"
    # Only ingress rules that open a guarded group to the internet are reverted.
    INTERNET = "internet"


@dataclass(frozen=True, order=True)
class PortRange:
    low: int
    high: int

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


DEFAULT_OPEN_PORTS = (PortRange(80, 80), PortRange(443, 443))
EVERY_PORT = PortRange(0, 65535)
# AWS-managed prefix lists (owned by AWS, names com.amazonaws.…) whose addresses count as internal: those
# whose traffic nobody outside the account can originate (S3's and DynamoDB's addresses, EC2 Instance
# Connect, which connects only as IAM in this account allows, and VPC Lattice's link-local range). Not
# CloudFront's origin-facing list or Route 53's health checkers: any AWS customer can send through those.
DEFAULT_TRUSTED_PREFIX_LISTS = (
    "com.amazonaws.*.s3",
    "com.amazonaws.*.dynamodb",
    "com.amazonaws.*.ec2-instance-connect",
    "com.amazonaws.*.vpc-lattice",
)


@dataclass(frozen=True)
class GroupScope:
    """Which security groups are guarded: by ID, all of them, or by tag."""

    group_ids: frozenset[str] = frozenset()
    all_groups: bool = False
    tag_key: str | None = None
    # None: any value of tag_key will do.
    tag_value: str | None = None

    @property
    def guards_anything(self) -> bool:
        return self.all_groups or bool(self.group_ids) or self.tag_key is not None

    def covers_id(self, group_id: str) -> bool:
        """True when the ID alone says the group is guarded (no lookup needed)."""
        return self.all_groups or group_id in self.group_ids

    def covers_tags(self, tags: Mapping[str, str]) -> bool:
        if self.tag_key is None or self.tag_key not in tags:
            return False
        return self.tag_value is None or tags[self.tag_key] == self.tag_value

    def __str__(self) -> str:
        parts = ["every group"] if self.all_groups else sorted(self.group_ids)
        if self.tag_key is not None:
            parts.append(f"tag {self.tag_key}" + ("" if self.tag_value is None else f"={self.tag_value}"))
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class Policy:
    mode: Mode = Mode.LOCKDOWN
    open_ports: tuple[PortRange, ...] = DEFAULT_OPEN_PORTS
    trusted_networks: tuple[Network, ...] = ()
    # Glob patterns over principal ARNs, e.g. arn:aws:iam::*:role/terraform-*;
    # see arn_matches for why * stops at ':' and '/'.
    exempt_principals: tuple[str, ...] = ()
    # Name patterns of AWS-managed prefix lists treated as internal; a customer-managed
    # list is always judged by its entries, whatever its name.
    trusted_prefix_lists: tuple[str, ...] = DEFAULT_TRUSTED_PREFIX_LISTS


@dataclass(frozen=True)
class Decision:
    revert: bool
    # Why, in words that go into the email.
    reason: str
    exempt: bool = field(default=False)


def decide(
    rule: Rule,
    actor: Actor,
    policy: Policy,
    approved: frozenset[Rule] | None = None,
    lists: ListContents = NO_LISTS,
    granted: Granted = NOTHING_GRANTED,
) -> Decision:
    """Decide whether one rule added or changed by `actor` must be reverted.

    `approved` is the group's baseline, when it has one: in lockdown mode
    the group may then hold exactly those rules, and an approved rule whose
    prefix list now reaches further than when it was approved is not one of
    them. `lists` holds what the referenced prefix lists contain. `granted`
    holds the group's time-boxed exceptions (`excepted`).
    """
    return excepted(rule, _decide(rule, actor, policy, approved, lists), granted)


def excepted(rule: Rule, decision: Decision, granted: Granted) -> Decision:
    """A revert the group's exceptions speak to: allowed while one is valid, said to have expired once not.

    Only what would be reverted is looked up: an exception never makes a
    rule the policy allows any less allowed.
    """
    if not decision.revert or not granted:
        return decision
    valid = granted.valid.get(rule)
    if valid is not None:
        return Decision(False, valid.allowed_words())
    expired = granted.expired.get(rule)
    if expired is not None:
        return Decision(True, f"{expired.expired_words()}: {decision.reason}")
    return replace(decision, reason=granted.noted(rule, decision.reason))


def _decide(
    rule: Rule, actor: Actor, policy: Policy, approved: frozenset[Rule] | None, lists: ListContents
) -> Decision:
    pattern = exempt_pattern(actor, policy.exempt_principals)
    if pattern is not None:
        return Decision(False, f"made by an exempt principal (matches {pattern})", exempt=True)
    if policy.mode is Mode.LOCKDOWN and approved is not None:
        if rule not in approved:
            return Decision(True, "lockdown mode: not in the approved baseline")
        reach = reaches_past_approval(rule, policy, lists)
        if reach is not None:
            return Decision(True, reach)
        unread = lists.current.get(rule.source.value) if rule.source.kind is SourceKind.PREFIX_LIST else None
        if unread is not None and unread.error:
            return Decision(False, f"approved in the baseline; {unread} could not be read ({unread.error})")
        return Decision(False, "approved in the baseline")
    if policy.mode is Mode.LOCKDOWN:
        return Decision(True, LOCKDOWN_ADDS_NOTHING)
    return judge_exposure(rule, policy, lists)


def judge_exposure(rule: Rule, policy: Policy, lists: ListContents = NO_LISTS) -> Decision:
    """Internet mode's question: does this rule open a port outside SENTRY_OPEN_PORTS to the internet?"""
    if rule.direction is Direction.EGRESS:
        return Decision(False, "internet mode guards ingress only")
    through = _internet_reach(rule, policy, lists)
    if isinstance(through, Decision):
        return through
    if rule.protocol in ICMP_PROTOCOLS:
        return Decision(False, f"{rule.protocol_text} carries no ports; internet mode leaves ICMP alone")
    if rule.protocol in PORTED_PROTOCOLS:
        ports = _rule_ports(rule)
        what = f"{rule.protocol_text} {ports}"
    else:
        # AWS: a protocol other than tcp, udp, icmp and icmpv6 allows traffic on every port.
        ports = EVERY_PORT
        what = (
            f"{rule.protocol_text} {ports}" if rule.protocol == ALL_PROTOCOLS else f"{rule.protocol_text} (every port)"
        )
    if covers(policy.open_ports, ports):
        return Decision(False, f"port {ports} may be open to the internet (SENTRY_OPEN_PORTS)")
    return Decision(True, f"opens {what} to the internet{through}")


def _internet_reach(rule: Rule, policy: Policy, lists: ListContents) -> str | Decision:
    """How the rule's source reaches the internet ("" for a CIDR, words for a list), or why it does not."""
    source = rule.source
    if source.kind is SourceKind.SECURITY_GROUP:
        return Decision(False, f"source {source} is internal")
    if source.kind is not SourceKind.PREFIX_LIST:
        if is_internet_source(rule, policy.trusted_networks):
            return ""
        return Decision(False, f"source {source} is internal")
    plist = lists.current.get(source.value)
    if plist is None or plist.error:
        # Unread, gone, or unreadable: a list nobody can see into may hold anything, so it is judged the internet.
        why = f" ({plist.error})" if plist is not None and plist.error else ""
        return f" through {source}, which could not be read{why} and is treated as the internet"
    pattern = trusted_list(plist, policy)
    if pattern is not None:
        return Decision(False, f"{plist} is AWS-managed and trusted (SENTRY_TRUSTED_PREFIX_LISTS: {pattern})")
    public = [entry for entry in plist.entries if is_internet_network(entry.network, policy.trusted_networks)]
    if not public:
        return Decision(False, f"{plist} holds only internal addresses")
    return f" through {plist}, which holds {entries_text(public)}"


def reaches_past_approval(rule: Rule, policy: Policy, lists: ListContents) -> str | None:
    """Why an approved prefix-list rule is no longer the rule that was approved, or None when it still is.

    A prefix-list rule is approved with the entries its list held when the
    baseline was taken: an entry beyond them (as networks) means the rule
    now reaches somewhere nobody approved. Fewer entries reach less and are
    fine. Trusted AWS-managed lists are not compared.
    """
    if rule.source.kind is not SourceKind.PREFIX_LIST:
        return None
    list_id = rule.source.value
    plist = lists.current.get(list_id)
    if plist is None:
        return f"{rule.source} no longer exists, so it cannot be shown to hold only its approved entries"
    if plist.error:
        # Denied the entries of a list the baseline approved: an approved rule is kept rather than torn out
        # on a read nobody can make; the report says the list could not be read (see sweep.judge).
        return None
    if trusted_list(plist, policy) is not None:
        return None
    approved = lists.approved.get(list_id)
    if approved is None:
        # A baseline taken before lists were judged by their entries: approved while the list reaches no
        # further than internal (and trusted) space, which keeps such a rule and stops a list opened since.
        public = [e for e in plist.entries if is_internet_network(e.network, policy.trusted_networks)]
        if not public:
            return None
        return f"{plist} now holds {entries_text(public)}, and the baseline does not record what it held when approved"
    extra = beyond(plist, approved)
    if not extra:
        return None
    return f"{plist} now holds {entries_text(extra)}, beyond the entries it held when approved"


def trusted_list(plist: PrefixList, policy: Policy) -> str | None:
    """The SENTRY_TRUSTED_PREFIX_LISTS pattern an AWS-managed list's name matches, if any."""
    if not plist.aws_managed or not plist.name:
        return None
    return next((p for p in policy.trusted_prefix_lists if _glob_regex(p).fullmatch(plist.name)), None)


def exempt_pattern(actor: Actor, patterns: Iterable[str]) -> str | None:
    """The first exemption pattern matching the actor or its session issuer, if any."""
    for pattern in patterns:
        if any(arn_matches(pattern, arn) for arn in actor.principal_arns):
            return pattern
    return None


def arn_matches(pattern: str, arn: str) -> bool:
    """Glob match in which ``*`` and ``?`` never cross ``:`` or ``/``.

    Plain fnmatch would let ``*`` span separators, and IAM paths may hold
    almost any character: a user created at path ``/:role/terraform-/``
    would then match ``arn:aws:iam::*:role/terraform-*`` and exempt itself.
    """
    return _glob_regex(pattern).fullmatch(arn) is not None


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append("[^:/]*")
        elif char == "?":
            parts.append("[^:/]")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts))


def is_internet_source(rule: Rule, trusted: Iterable[Network] = ()) -> bool:
    """A CIDR source is the internet unless it lies entirely inside internal or trusted space.

    Security-group references are internal by definition; a prefix list is
    judged by its entries (`judge_exposure`), so this says False for it.
    CIDRs are compared as networks: "10.0.0.0/8" is inside, "10.0.0.0/7" is not.
    """
    if rule.source.kind not in (SourceKind.CIDR_IPV4, SourceKind.CIDR_IPV6):
        return False
    return is_internet_network(rule.source.network, trusted)


def is_internet_network(network: Network, trusted: Iterable[Network] = ()) -> bool:
    return not any(
        network.version == inside.version and network.subnet_of(inside)  # type: ignore[arg-type]
        for inside in (*INTERNAL_NETWORKS, *trusted)
    )


def covers(ranges: Iterable[PortRange], wanted: PortRange) -> bool:
    """True when the union of `ranges` contains every port of `wanted`."""
    next_uncovered = wanted.low
    for allowed in sorted(ranges):
        if allowed.low > next_uncovered:
            break
        next_uncovered = max(next_uncovered, allowed.high + 1)
        if next_uncovered > wanted.high:
            return True
    return next_uncovered > wanted.high


def _rule_ports(rule: Rule) -> PortRange:
    assert rule.from_port is not None and rule.to_port is not None  # tcp/udp always carry ports
    return PortRange(rule.from_port, rule.to_port)
