"""moto's server on the loopback interface, started and stopped by whoever needs a real endpoint."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

LOOPBACK = "127.0.0.1"
REGION = "eu-west-1"

# The role AWS Organizations creates in every account it creates, for the management account's administrators.
ADMIN_ROLE = "OrganizationAccountAccessRole"

# Credentials moto accepts; they never leave this machine.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextmanager
def local_aws(region: str = REGION) -> Iterator[str]:
    """Run moto's server on 127.0.0.1 (a free port) and point boto3 at it; yield the endpoint URL."""
    # werkzeug logs every request; the demo's output is for people.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = dict(os.environ)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region})
    # A profile or config file of the user's must not send anything elsewhere.
    os.environ.pop("AWS_PROFILE", None)
    # Imported here: it loads moto's EC2 models, which a process that only calls the server must not carry.
    from localaws.moto_fidelity import as_ec2

    try:
        with as_ec2():  # the server runs in this process: moto answers as EC2 would
            yield endpoint
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


@dataclass(frozen=True)
class AccountSession:
    """Clients that act in another (moto) account, with an administrator's credentials there."""

    account: str
    region: str
    credentials: Mapping[str, str]

    def client(self, service: str, region_name: str | None = None) -> Any:
        # boto3's default session makes them: it keeps the service models it loaded (a new one loads them again).
        return boto3.client(service, region_name=region_name or self.region, **self.credentials)


def in_account(account: str, region: str = REGION, role: str = ADMIN_ROLE) -> AccountSession:
    """An administrator's way into another (moto) account: `role` there, assumed from this one.

    moto lets any role be assumed (its IAM is not enforced here), and the
    credentials it hands out act in the role's account.
    """
    made = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="admin"
    )["Credentials"]
    credentials = {
        "aws_access_key_id": made["AccessKeyId"],
        "aws_secret_access_key": made["SecretAccessKey"],
        "aws_session_token": made["SessionToken"],
    }
    return AccountSession(account, region, credentials)
