"""Settings from environment variables, read and validated at every invocation.

Reading at invocation (not at import) lets Chalice stages and
`chalice.test.Client` supply the variables. A bad value raises
`ConfigError` naming every bad variable: a sentry that guesses what a typo
meant could leave a group unguarded, so it fails closed and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import TypeVar

from chalicelib.domain.accounts import DEFAULT_MEMBER_ROLE, AccountScope
from chalicelib.domain.ids import ACCOUNT_ID, GROUP_ID, REGION, ROLE_NAME
from chalicelib.domain.policy import (
    DEFAULT_OPEN_PORTS,
    DEFAULT_TRUSTED_PREFIX_LISTS,
    GroupScope,
    Mode,
    Network,
    Policy,
    PortRange,
)

T = TypeVar("T")

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
LIST_PATTERN = re.compile(r"^[A-Za-z0-9.*?-]{1,255}$")
# DynamoDB's table names and SQS's queue names (a FIFO queue cannot take the sweep's messages unordered).
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$")
KNOWN = frozenset(
    {
        "SENTRY_GROUP_IDS",
        "SENTRY_GROUP_TAG",
        "SENTRY_MODE",
        "SENTRY_OPEN_PORTS",
        "SENTRY_TRUSTED_CIDRS",
        "SENTRY_TRUSTED_PREFIX_LISTS",
        "SENTRY_EXEMPT_PRINCIPALS",
        "SENTRY_DRY_RUN",
        "SENTRY_TOPIC_ARN",
        "SENTRY_CHAT_TOPIC_ARN",
        "SENTRY_SWEEP_MINUTES",
        "SENTRY_BASELINE_FILE",
        "SENTRY_SWEEP_ROLE_ARN",
        "SENTRY_ACCOUNTS",
        "SENTRY_REGIONS",
        "SENTRY_MEMBER_ROLE",
        "SENTRY_BASELINE_TABLE",
        "SENTRY_SWEEP_QUEUE",
    }
)
DEFAULT_SWEEP_MINUTES = 15
# Relative baseline paths are read from the app's root, which is /var/task in Lambda.
APP_ROOT = Path(__file__).resolve().parents[2]
# Where `sentry snapshot` writes the approved baseline, and where the sentry reads it unless told otherwise.
DEFAULT_BASELINE_PATH = APP_ROOT / "chalicelib" / "baseline.json"
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}


class ConfigError(ValueError):
    """One or more SENTRY_* variables are malformed; the message names each."""


@dataclass(frozen=True)
class Settings:
    scope: GroupScope
    policy: Policy
    dry_run: bool = False
    topic_arn: str | None = None
    # A second topic, sent every report as AWS Chatbot's custom notification (Slack, Teams); None: no chat.
    chat_topic_arn: str | None = None
    sweep_minutes: int = DEFAULT_SWEEP_MINUTES
    baseline_path: Path = field(default=DEFAULT_BASELINE_PATH)
    # An organization's deployment (docs/organization.md); the defaults are a single account's.
    accounts: AccountScope = field(default_factory=AccountScope)
    # The regions a sweep covers; empty: the deployment's own. Events are acted on whatever their region.
    regions: tuple[str, ...] = ()
    member_role: str = DEFAULT_MEMBER_ROLE
    # The baseline's DynamoDB table, in the deployment's own account and region; None: the file.
    baseline_table: str | None = None
    # The queue the sweep fans out through (one message per account and region); None: swept in-process.
    sweep_queue: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        errors: list[str] = []

        def read(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return parse(raw)
            except ValueError as error:
                errors.append(f"{name}={raw!r}: {error}")
                return default

        group_ids = read("SENTRY_GROUP_IDS", _group_ids, frozenset[str]())
        no_tag: tuple[str | None, str | None] = (None, None)
        tag = read("SENTRY_GROUP_TAG", _tag, no_tag)
        policy = Policy(
            mode=read("SENTRY_MODE", _mode, Mode.LOCKDOWN),
            open_ports=read("SENTRY_OPEN_PORTS", _ports, DEFAULT_OPEN_PORTS),
            trusted_networks=read("SENTRY_TRUSTED_CIDRS", _networks, ()),
            exempt_principals=read("SENTRY_EXEMPT_PRINCIPALS", _arn_patterns, ()),
            trusted_prefix_lists=read("SENTRY_TRUSTED_PREFIX_LISTS", _list_patterns, DEFAULT_TRUSTED_PREFIX_LISTS),
        )
        dry_run = read("SENTRY_DRY_RUN", _boolean, False)
        topic_arn = read("SENTRY_TOPIC_ARN", _topic_arn, None)
        chat_topic_arn = read("SENTRY_CHAT_TOPIC_ARN", _topic_arn, None)
        if chat_topic_arn and chat_topic_arn == topic_arn:
            # Its subscribers (email, SQS, HTTPS) would each get every report twice, once as chat JSON.
            errors.append("SENTRY_CHAT_TOPIC_ARN: is SENTRY_TOPIC_ARN; chat needs a topic of its own")
        sweep_minutes = read("SENTRY_SWEEP_MINUTES", _minutes, DEFAULT_SWEEP_MINUTES)
        baseline_path = read("SENTRY_BASELINE_FILE", _path, DEFAULT_BASELINE_PATH)
        # Only checked here: identity.OwnIdentity reads it (the merge template sets it for CloudFormation).
        read("SENTRY_SWEEP_ROLE_ARN", _role_arn, None)
        accounts = read("SENTRY_ACCOUNTS", _accounts, AccountScope())
        regions: tuple[str, ...] = read("SENTRY_REGIONS", _regions, tuple[str, ...]())
        member_role = read("SENTRY_MEMBER_ROLE", _role_name, DEFAULT_MEMBER_ROLE)
        baseline_table = read("SENTRY_BASELINE_TABLE", _table_name, None)
        sweep_queue = read("SENTRY_SWEEP_QUEUE", _queue_name, None)
        if sweep_queue and not baseline_table:
            # The workers count a round's account-regions down there, so that one summary says what all found.
            errors.append("SENTRY_SWEEP_QUEUE: needs SENTRY_BASELINE_TABLE (each sweep round is tallied in it)")
        # A misspelt name (SENTRY_GROUP_ID) would otherwise leave groups unguarded without a word.
        errors += [
            f"{name}: not a setting of sg-sentry (a typo?)"
            for name in sorted(env)
            if name.startswith("SENTRY_") and name not in KNOWN
        ]
        if errors:
            raise ConfigError("invalid sg-sentry configuration: " + "; ".join(errors))
        scope = GroupScope(
            group_ids=group_ids - {"*"},
            all_groups="*" in group_ids,
            tag_key=tag[0],
            tag_value=tag[1],
        )
        return cls(
            scope=scope,
            policy=policy,
            dry_run=dry_run,
            topic_arn=topic_arn,
            chat_topic_arn=chat_topic_arn,
            sweep_minutes=sweep_minutes,
            baseline_path=baseline_path,
            accounts=accounts,
            regions=regions,
            member_role=member_role,
            baseline_table=baseline_table,
            sweep_queue=sweep_queue,
        )


def sweep_minutes(env: Mapping[str, str]) -> int:
    """SENTRY_SWEEP_MINUTES alone: app.py needs it at import, when Chalice deploys the schedule."""
    return _at_import(env, "SENTRY_SWEEP_MINUTES", _minutes, DEFAULT_SWEEP_MINUTES)


def sweep_queue(env: Mapping[str, str]) -> str | None:
    """SENTRY_SWEEP_QUEUE alone: app.py registers the sweep's worker on that queue at import, for Chalice."""
    return _at_import(env, "SENTRY_SWEEP_QUEUE", _queue_name, None)


def _at_import[V](env: Mapping[str, str], name: str, parse: Callable[[str], V], default: V) -> V:
    """One setting read on its own, raising `ConfigError` as `Settings.from_env` would name it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(f"invalid sg-sentry configuration: {name}={raw!r}: {error}") from None


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _group_ids(raw: str) -> frozenset[str]:
    ids = _split(raw)
    if "*" in ids and len(ids) > 1:
        raise ValueError("'*' guards every group; list IDs or '*', not both")
    bad = [group_id for group_id in ids if group_id != "*" and not GROUP_ID.fullmatch(group_id)]
    if bad:
        raise ValueError(f"not security group IDs (sg-xxxxxxxx): {', '.join(bad)}")
    return frozenset(ids)


def _tag(raw: str) -> tuple[str | None, str | None]:
    key, sep, value = raw.partition("=")
    key, value = key.strip(), value.strip()
    if not key or len(key) > 128:
        raise ValueError("expected key=value or key, with a key of 1 to 128 characters")
    if sep and not value:
        raise ValueError("empty value after '='; write just the key to match any value")
    return key, (value if sep else None)


def _mode(raw: str) -> Mode:
    try:
        return Mode(raw.lower())
    except ValueError:
        raise ValueError(f"expected one of {', '.join(m.value for m in Mode)}") from None


def _ports(raw: str) -> tuple[PortRange, ...]:
    if raw.lower() == "none":
        return ()
    ranges = []
    for part in _split(raw):
        low, _, high = part.partition("-")
        if not low.strip().isdigit() or (high and not high.strip().isdigit()):
            raise ValueError(f"{part!r} is not a port or a range like 8000-8080")
        port_range = PortRange(int(low), int(high or low))
        if not 0 <= port_range.low <= port_range.high <= 65535:
            raise ValueError(f"{part!r} is outside 0-65535 or reversed")
        ranges.append(port_range)
    return tuple(ranges)


def _networks(raw: str) -> tuple[Network, ...]:
    networks = []
    for part in _split(raw):
        try:
            network = ip_network(part)
        except ValueError as error:
            raise ValueError(f"{part!r} is not a CIDR network ({error})") from None
        if network.prefixlen == 0:
            raise ValueError(f"{part!r} is the whole internet: trusting it would make internet mode guard nothing")
        networks.append(network)
    return tuple(networks)


def _arn_patterns(raw: str) -> tuple[str, ...]:
    patterns = tuple(_split(raw))
    bad = [pattern for pattern in patterns if not pattern.startswith("arn:")]
    if bad:
        raise ValueError(f"patterns must start with 'arn:' (a bare '*' would exempt everyone): {', '.join(bad)}")
    return patterns


def _list_patterns(raw: str) -> tuple[str, ...]:
    if raw.lower() == "none":
        return ()
    patterns = tuple(_split(raw))
    bad = [p for p in patterns if not p.startswith("com.amazonaws.") or not LIST_PATTERN.match(p)]
    if bad:
        # Only AWS-managed lists can be trusted: a customer's list is judged by its entries, whatever its name.
        raise ValueError(
            f"expected names of AWS-managed prefix lists (com.amazonaws.…, * allowed) or none: {', '.join(bad)}"
        )
    return patterns


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("expected true or false")


def _role_arn(raw: str) -> str:
    if not ROLE_ARN.match(raw):
        raise ValueError("not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return raw


def _accounts(raw: str) -> AccountScope:
    accounts = _split(raw)
    if accounts == ["*"]:
        return AccountScope(organization=True)
    bad = [account for account in accounts if not ACCOUNT_ID.fullmatch(account)]
    if bad or not accounts:
        raise ValueError(f"expected 12-digit account IDs, or * for the whole organization: {', '.join(bad)}")
    return AccountScope(listed=frozenset(accounts))


def _regions(raw: str) -> tuple[str, ...]:
    regions = _split(raw)
    bad = [region for region in regions if not REGION.fullmatch(region)]
    if bad or not regions:
        raise ValueError(f"not AWS regions (us-east-1): {', '.join(bad)}")
    return tuple(sorted(set(regions)))


def _role_name(raw: str) -> str:
    if not ROLE_NAME.fullmatch(raw):
        raise ValueError("not an IAM role name (1 to 64 letters, digits and +=,.@_-)")
    return raw


def _table_name(raw: str) -> str:
    if not TABLE_NAME.fullmatch(raw):
        raise ValueError("not a DynamoDB table name (3 to 255 letters, digits and _.-)")
    return raw


def _queue_name(raw: str) -> str:
    if not QUEUE_NAME.fullmatch(raw):
        raise ValueError("not a standard SQS queue's name (1 to 80 letters, digits, _ and -)")
    return raw


def _minutes(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 1440:
        raise ValueError("expected a whole number of minutes from 1 to 1440 (a day)")
    return int(raw)


def _path(raw: str) -> Path:
    path = Path(raw)
    if not path.is_absolute() and path.parts[:1] != ("chalicelib",):
        # Chalice deploys app.py and chalicelib/ only: any other file would be missing in Lambda.
        raise ValueError("must be under chalicelib/ (Chalice deploys only that folder with app.py)")
    path = path if path.is_absolute() else APP_ROOT / path
    if not path.is_file():
        # Named but absent would silently mean "no baseline": every group unjudged, revokes not restored.
        raise ValueError(f"no such file: {path}")
    return path


def _topic_arn(raw: str) -> str:
    if not TOPIC_ARN.match(raw):
        raise ValueError("not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    return raw
