"""An organization's settings and values: which accounts, which regions, which role, named when wrong."""

from __future__ import annotations

import pytest

from chalicelib.domain.accounts import (
    DEFAULT_MEMBER_ROLE,
    AccountLabel,
    AccountScope,
    Place,
    guarded_accounts,
    places,
    session_name,
)
from chalicelib.domain.config import ConfigError, Settings, sweep_queue
from chalicelib.domain.sweep_round import PlaceFindings, RoundResult
from chalicelib.reports.fit import SNS_MESSAGE_LIMIT
from chalicelib.reports.sweep_round import build_round_report

HOME = "111111111111"


def test_a_single_account_changes_nothing() -> None:
    settings = Settings.from_env({"SENTRY_GROUP_TAG": "guard"})
    assert settings.accounts.home_only and settings.regions == ()
    assert (settings.member_role, settings.baseline_table, settings.sweep_queue) == (DEFAULT_MEMBER_ROLE, None, None)
    assert guarded_accounts(settings.accounts, HOME) == {HOME}


def test_exactly_the_listed_accounts_are_guarded_and_the_own_only_if_listed() -> None:
    settings = Settings.from_env({"SENTRY_ACCOUNTS": " 222222222222, 333333333333 ,"})
    assert guarded_accounts(settings.accounts, HOME) == {"222222222222", "333333333333"}
    assert str(settings.accounts) == "accounts 222222222222, 333333333333"


def test_star_is_the_organizations_active_accounts() -> None:
    settings = Settings.from_env({"SENTRY_ACCOUNTS": "*"})
    assert settings.accounts == AccountScope(organization=True)
    assert guarded_accounts(settings.accounts, HOME, ["222222222222"]) == {"222222222222"}


def test_every_organization_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "SENTRY_REGIONS": "us-east-1, eu-west-1,us-east-1",
            "SENTRY_MEMBER_ROLE": "security-sentry",
            "SENTRY_BASELINE_TABLE": "sg-sentry-baseline",
            "SENTRY_SWEEP_QUEUE": "sg-sentry-sweep",
        }
    )
    assert settings.regions == ("eu-west-1", "us-east-1")
    assert (settings.member_role, settings.baseline_table, settings.sweep_queue) == (
        "security-sentry",
        "sg-sentry-baseline",
        "sg-sentry-sweep",
    )


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("SENTRY_ACCOUNTS", "*,222222222222", "12-digit account IDs, or *"),
        ("SENTRY_ACCOUNTS", "22222222222", "12-digit account IDs"),
        ("SENTRY_REGIONS", "us-east-1,mars-1", "not AWS regions (us-east-1): mars-1"),
        ("SENTRY_MEMBER_ROLE", "role/with/path", "not an IAM role name"),
        ("SENTRY_BASELINE_TABLE", "a b", "not a DynamoDB table name"),
        ("SENTRY_SWEEP_QUEUE", "queue.fifo", "not a standard SQS queue's name"),
    ],
)
def test_a_bad_organization_value_names_the_variable(name: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        Settings.from_env({name: value, **({"SENTRY_BASELINE_TABLE": "t"} if name == "SENTRY_SWEEP_QUEUE" else {})})
    assert hint in str(raised.value)


def test_a_queue_without_a_table_is_refused_and_app_py_reads_the_queue_alone() -> None:
    with pytest.raises(ConfigError, match="SENTRY_SWEEP_QUEUE: needs SENTRY_BASELINE_TABLE"):
        Settings.from_env({"SENTRY_SWEEP_QUEUE": "sg-sentry-sweep"})
    assert sweep_queue({"SENTRY_SWEEP_QUEUE": " sg-sentry-sweep "}) == "sg-sentry-sweep"
    assert sweep_queue({}) is None
    with pytest.raises(ConfigError, match="SENTRY_SWEEP_QUEUE"):
        sweep_queue({"SENTRY_SWEEP_QUEUE": "no spaces"})


def test_a_session_is_named_for_its_cause_within_stss_limits() -> None:
    assert session_name("6b1c0f7e-9d1a-4c1e-8f55-2d2f1e0c9a11") == "sg-sentry-6b1c0f7e-9d1a-4c1e-8f55-2d2f1e0c9a11"
    long = session_name("sweep-20261201T150000Z-" + "x" * 80)
    assert len(long) == 64 and long.startswith("sg-sentry-sweep-")
    assert session_name("a b:c/d") == "sg-sentry-a-b-c-d"  # STS allows only [\w+=,.@-]


def test_places_are_every_account_in_every_region_and_read_back_as_written() -> None:
    found = places(["333333333333", "222222222222"], ["us-east-1", "eu-west-1"])
    assert [str(place) for place in found] == [
        "222222222222/eu-west-1",
        "222222222222/us-east-1",
        "333333333333/eu-west-1",
        "333333333333/us-east-1",
    ]
    assert Place.parse("222222222222/eu-west-1") == Place("222222222222", "eu-west-1")
    for bad in ("222222222222", "2222/eu-west-1", "222222222222/eu west", "*/eu-west-1"):
        with pytest.raises(ValueError, match="is not ACCOUNT/REGION"):
            Place.parse(bad)
    assert str(AccountLabel("222222222222", "payments")) == "222222222222 (payments)"
    assert str(AccountLabel("222222222222")) == "222222222222"


def findings(
    account: str, region: str, *, failed: bool = False, text: str = "Group sg-1: reverted 1 rule"
) -> PlaceFindings:
    return PlaceFindings(
        Place(account, region),
        label=account,
        summary="failed" if failed else "reverted",
        failed=failed,
        found=not failed,
        groups_checked=3,
        subject=f"sg-sentry sweep: reverted 1 rule in {account}/{region}",
        text=text,
        problem="could not assume the member role" if failed else None,
    )


def test_a_rounds_report_names_every_place_that_found_something_and_fits_in_sns() -> None:
    clean = PlaceFindings(Place(HOME, "eu-west-1"), HOME, "clean", failed=False, found=False)
    every = (clean, findings("222222222222", "eu-west-1"), findings("333333333333", "us-east-1", failed=True))
    report = build_round_report(RoundResult("r1", False, every))
    assert report.subject == "sg-sentry sweep: FAILED in 1 account-region, found something in 2 of 3 account-regions"
    assert "== 222222222222 in eu-west-1 ==" in report.text and "== 333333333333 in us-east-1 ==" in report.text
    assert f"{HOME} in eu-west-1" not in report.text  # a clean place is counted, not listed
    assert [place["summary"] for place in report.document["places"]] == ["clean", "reverted", "failed"]
    # 300 places with long reports: the round's message still fits, and says what it left out.
    many = tuple(findings(f"{n:012d}", "eu-west-1", text="x" * 5000) for n in range(300))
    big = build_round_report(RoundResult("r2", False, many))
    assert len(big.sns_message().encode()) <= SNS_MESSAGE_LIMIT
    assert "more places are in the sentry's log" in big.text


def test_a_places_findings_survive_the_table() -> None:
    place = findings("222222222222", "eu-west-1", failed=True)
    assert PlaceFindings.from_dict(place.as_dict()) == place
