"""Member credentials: assumed once per event and account while valid, refused in words, one client per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters import aws, members
from chalicelib.adapters.aws import Credentials
from chalicelib.adapters.members import MemberSessions
from chalicelib.domain.errors import AwsError


class FakeSts:
    def __init__(self, lifetime: timedelta = timedelta(hours=1), refuse: bool = False) -> None:
        self.asked: list[tuple[str, str]] = []
        self.lifetime = lifetime
        self.refuse = refuse

    def assume_role(self, RoleArn: str, RoleSessionName: str, DurationSeconds: int) -> dict[str, Any]:
        self.asked.append((RoleArn, RoleSessionName))
        if self.refuse:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}}
            raise ClientError(error, "AssumeRole")
        number = len(self.asked)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{number:016d}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": datetime.now(UTC) + self.lifetime,
            }
        }


@pytest.fixture(autouse=True)
def no_cached_credentials() -> None:
    members.forget()


def test_one_assume_per_event_and_account_while_the_credentials_last() -> None:
    sts = FakeSts()
    sessions = MemberSessions(lambda: sts, "sg-sentry-member")
    first = sessions.credentials("222222222222", "sg-sentry-event-1")
    assert sessions.credentials("222222222222", "sg-sentry-event-1") is first  # a retry of the same event
    sessions.credentials("222222222222", "sg-sentry-event-2")  # another event: its own session
    sessions.credentials("333333333333", "sg-sentry-event-1")
    assert sts.asked == [
        ("arn:aws:iam::222222222222:role/sg-sentry-member", "sg-sentry-event-1"),
        ("arn:aws:iam::222222222222:role/sg-sentry-member", "sg-sentry-event-2"),
        ("arn:aws:iam::333333333333:role/sg-sentry-member", "sg-sentry-event-1"),
    ]


def test_credentials_about_to_expire_are_assumed_again() -> None:
    sts = FakeSts(lifetime=timedelta(minutes=4))  # less than the five minutes' margin
    sessions = MemberSessions(lambda: sts, "sg-sentry-member")
    sessions.credentials("222222222222", "sg-sentry-sweep-r1")
    sessions.credentials("222222222222", "sg-sentry-sweep-r1")
    assert len(sts.asked) == 2


def test_a_refusal_names_the_role_and_keeps_awss_code() -> None:
    sessions = MemberSessions(lambda: FakeSts(refuse=True), "sg-sentry-member")
    with pytest.raises(AwsError) as raised:
        sessions.credentials("222222222222", "sg-sentry-event-1")
    assert str(raised.value) == (
        "could not assume arn:aws:iam::222222222222:role/sg-sentry-member: "
        "AccessDenied: not authorized to perform: sts:AssumeRole"
    )
    assert raised.value.code == "AccessDenied"


def test_a_new_events_credentials_replace_the_last_client_of_that_account() -> None:
    aws.reset()
    later = datetime.now(UTC) + timedelta(hours=1)
    one = Credentials("222222222222", "ASIAONE", "s", "t", later)
    two = Credentials("222222222222", "ASIATWO", "s", "t", later)
    other = Credentials("333333333333", "ASIAOTHER", "s", "t", later)
    first = aws.client("ec2", "eu-west-1", one)
    assert aws.client("ec2", "eu-west-1", one) is first
    second = aws.client("ec2", "eu-west-1", two)
    assert second is not first and second._request_signer._credentials.access_key == "ASIATWO"
    aws.client("ec2", "eu-west-1", other)
    own = aws.client("ec2", "eu-west-1")
    assert own._request_signer._credentials.access_key == "testing"  # the function's own, untouched
    assert len(aws._clients) == 3  # one per account (and the function's own), not one per event


class FakeOrganizations:
    def __init__(self) -> None:
        self.calls = 0
        self.refuse = False

    def get_paginator(self, name: str) -> FakeOrganizations:
        return self

    def paginate(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.refuse:
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "ListAccounts")
        return [{"Accounts": [{"Id": "222222222222", "Name": "payments", "State": "ACTIVE"}]}]


def test_the_organizations_list_is_kept_ten_minutes_and_used_stale_when_a_refresh_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.adapters import organizations

    organizations.forget()
    clock = [1000.0]
    monkeypatch.setattr(organizations.time, "monotonic", lambda: clock[0])
    fake = FakeOrganizations()
    organization = organizations.Organization(lambda: fake)
    assert organization.active_accounts() == {"222222222222": "payments"}
    clock[0] += 599
    organization.active_accounts()
    assert fake.calls == 1
    fake.refuse = True
    clock[0] += 2
    assert organization.active_accounts() == {"222222222222": "payments"}  # stale, rather than no list at all
    clock[0] += organizations.STALE_SECONDS
    with pytest.raises(AwsError, match="TooManyRequestsException"):
        organization.active_accounts()
    organizations.forget()
    with pytest.raises(AwsError):
        organization.active_accounts()
    calls = fake.calls
    with pytest.raises(AwsError):
        organization.active_accounts()  # a failure with nothing to fall back on is kept a minute
    assert fake.calls == calls
