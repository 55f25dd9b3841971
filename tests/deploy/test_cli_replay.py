"""`sentry replay` and the rule every command follows for settings, against moto in this process.

What AWS holds afterwards is read back: the group's real rules, and the messages SNS really delivered.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from click.testing import CliRunner

from localaws import cloudtrail
from sentrycli.main import cli
from sentrycli.project import Project
from sentrycli.replay import replay_deployed
from sentrycli.settings import DRY_RUN
from tests.deploy.conftest import sentry
from tests.functional.conftest import REGION, World, ssh_from
from tests.functional.test_chat import chat_inbox, delivered

OTHER_REGION = "us-east-1"
EGRESS = "all traffic to 0.0.0.0/0, egress"
SSH_WORLD = "tcp 22 from 0.0.0.0/0, ingress"


def set_stage(project: Path, **variables: str) -> None:
    """Set the dev stage's environment variables, as a person edits config.json."""
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"]["dev"]["environment_variables"].update(variables)
    path.write_text(json.dumps(config))


def opened(world: World, group: str, tmp_path: Path, **record_options: Any) -> tuple[Path, dict[str, Any]]:
    """SSH opened to the world on `group`, and a file holding the record CloudTrail made of it."""
    params = {"GroupId": group, "IpPermissions": [ssh_from()]}
    _, created = cloudtrail.apply(world.ec2, "AuthorizeSecurityGroupIngress", **params)
    options = {"region": REGION, **record_options}
    record = cloudtrail.record("AuthorizeSecurityGroupIngress", params, created, **options)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    return path, record


@pytest.fixture
def guarded(project: Path, world: World, tmp_path: Path) -> tuple[str, Path, dict[str, Any]]:
    """A group the dev stage guards, with the stage's topic, and SSH opened on it: (group, record file, record)."""
    group = world.group()
    set_stage(project, SENTRY_GROUP_IDS=group, SENTRY_TOPIC_ARN=world.topic_arn)
    return group, *opened(world, group, tmp_path)


# --- what it did, in words -----------------------------------------------------


def test_replay_prints_what_the_message_says_and_it_is_what_was_done(
    project: Path, world: World, guarded: tuple[str, Path, dict[str, Any]]
) -> None:
    group, path, record = guarded
    result = sentry(project, "replay", str(path))
    assert result.exit_code == 0, result.output
    assert world.rules(group) == {EGRESS}
    ((subject, document),) = world.messages()
    first, *rest = result.output.splitlines()
    assert first == f"✓ {record['eventID']}: {subject}"
    assert rest[: len(document["text"].splitlines())] == [
        f"  {line}".rstrip() for line in document["text"].splitlines()
    ]
    assert f"  notified {world.topic_arn}" in result.output and "{" not in first


def test_replay_json_is_the_handlers_answer_and_the_log_says_the_same_word(
    project: Path, world: World, guarded: tuple[str, Path, dict[str, Any]]
) -> None:
    group, path, record = guarded
    result = sentry(project, "replay", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "outcome": "reverted",
        "event_id": record["eventID"],
        "group_id": group,
        "rules": {"reverted": 1},
    }
    assert json.loads(result.stderr.splitlines()[0])["outcome"] == "reverted"  # the decision log, on stderr


def test_a_passed_over_record_says_the_logs_word_and_why(project: Path, world: World, tmp_path: Path) -> None:
    set_stage(project, SENTRY_GROUP_IDS=world.group("guarded"))
    path, _ = opened(world, world.group("scratch"), tmp_path, error=("UnauthorizedOperation", "no"))
    human, as_json = sentry(project, "replay", str(path)), sentry(project, "replay", str(path), "--json")
    assert human.exit_code == as_json.exit_code == 0, human.output
    said = "nothing-to-do: nothing to do: the call failed (UnauthorizedOperation), so it changed nothing"
    assert human.output.splitlines()[0].endswith(f": {said}") and human.output.startswith("– ")
    answer, logged = json.loads(as_json.stdout), json.loads(as_json.stderr.splitlines()[0])
    assert answer["outcome"] == logged["outcome"] == "nothing-to-do" and answer["reason"] == logged["message"]


def test_a_record_it_cannot_read_is_not_understood_and_fails(
    project: Path, world: World, guarded: tuple[str, Path, dict[str, Any]]
) -> None:
    group, path, record = guarded
    record["awsRegion"] = "not a region"
    path.write_text(json.dumps(record))
    result = sentry(project, "replay", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"✗ {record['eventID']}: not-understood: cannot read the event: ")
    assert SSH_WORLD in world.rules(group)


def test_replay_reads_the_projects_baseline_file_as_sweep_does(project: Path, world: World, tmp_path: Path) -> None:
    # The project is a copy, chalicelib is imported from the checkout: as with --project-dir, the file of the
    # project it is run on is the one that counts, here holding a break-glass exception for the rule.
    group = world.group()
    set_stage(project, SENTRY_GROUP_IDS=group, SENTRY_TOPIC_ARN=world.topic_arn)
    rule = ("--rule", "tcp 22 from 0.0.0.0/0", "--for", "1h", "--reason", "INC-7")
    granted = sentry(project, "allow", "--group", group, *rule)
    assert granted.exit_code == 0, granted.output
    path, _ = opened(world, group, tmp_path)  # the rule added after the grant, as the incident's engineer does
    result = sentry(project, "replay", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would revert" not in result.output and "allowed" in result.output
    assert SSH_WORLD in world.rules(group)


# --- dry run, however it is asked for --------------------------------------------


@pytest.mark.parametrize(
    ("command", "stage"),
    [
        (("replay", "RECORD", "--dry-run"), {}),
        (("sweep", "--dry-run"), {}),
        (("replay", "RECORD"), {"SENTRY_DRY_RUN": "true"}),
        (("sweep",), {"SENTRY_DRY_RUN": "true"}),
    ],
    ids=["replay-flag", "sweep-flag", "replay-stage", "sweep-stage"],
)
def test_a_dry_run_changes_nothing_and_publishes_nothing(
    project: Path, world: World, guarded: tuple[str, Path, dict[str, Any]], command: tuple[str, ...], stage: Any
) -> None:
    group, path, _ = guarded
    chat, chat_queue = chat_inbox(world)  # the chat topic too: a dry run publishes nowhere
    # The shipped dev stage says SENTRY_DRY_RUN false unless this says otherwise.
    set_stage(project, SENTRY_CHAT_TOPIC_ARN=chat, **stage)
    result = sentry(project, *(str(path) if arg == "RECORD" else arg for arg in command))
    assert result.exit_code == 0, result.output
    assert world.rules(group) == {SSH_WORLD, EGRESS} and world.messages() == []
    assert delivered(world, chat_queue) == []
    assert "would revert" in result.output and result.output.splitlines()[-1] == DRY_RUN


def test_a_dry_run_asked_for_in_the_shell_is_refused_not_reverted(
    project: Path, world: World, guarded: tuple[str, Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    group, path, _ = guarded
    monkeypatch.setenv("SENTRY_DRY_RUN", "true")
    for command in (("replay", str(path)), ("sweep",)):
        result = sentry(project, *command)
        assert result.exit_code == 2 and "SENTRY_DRY_RUN is set in your shell" in result.output
        assert "unset SENTRY_DRY_RUN, and pass --dry-run instead of SENTRY_DRY_RUN" in result.output
    assert world.rules(group) == {SSH_WORLD, EGRESS} and world.messages() == []


def test_a_misspelt_setting_in_the_shell_is_refused_too(
    project: Path, world: World, guarded: tuple[str, Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    group, path, _ = guarded
    monkeypatch.setenv("SENTRY_DRYRUN", "true")  # meant as "only look": dropped, it would revert for real
    result = sentry(project, "replay", str(path))
    assert result.exit_code == 2, result.output
    assert "SENTRY_DRYRUN (not a setting of sg-sentry: a typo?) is set in your shell" in result.output
    assert world.rules(group) == {SSH_WORLD, EGRESS} and world.messages() == []


def test_the_deployed_function_cannot_be_asked_to_only_look(project: Path, tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("{}")
    result = sentry(project, "replay", str(path), "--deployed", "--dry-run")
    assert result.exit_code == 2 and "--dry-run runs here only" in result.output


def test_local_and_deployed_together_are_refused(project: Path, tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("{}")
    result = sentry(project, "replay", str(path), "--local", "--deployed")
    assert result.exit_code == 2 and "--local or --deployed, not both" in result.output


# --- settings come from the stage and the flags, never the shell ------------------


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (("replay", "RECORD"), None),
        (("sweep",), "pass --member-role instead of SENTRY_MEMBER_ROLE"),
        (("snapshot",), "pass --member-role instead of SENTRY_MEMBER_ROLE"),
        (("doctor",), None),
    ],
    ids=["replay", "sweep", "snapshot", "doctor"],
)
def test_every_command_refuses_settings_from_the_shell_and_names_them(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], flag: str | None
) -> None:
    path = tmp_path / "record.json"
    path.write_text(
        json.dumps(
            cloudtrail.record("AuthorizeSecurityGroupIngress", {"GroupId": "sg-0123456789abcdef0"}, region=REGION)
        )
    )
    monkeypatch.setenv("SENTRY_MODE", "internet")
    monkeypatch.setenv("SENTRY_MEMBER_ROLE", "audit")
    monkeypatch.setenv("SENTRY_SUITE_RECORD", "x")  # not a setting of the sentry: never refused
    result = sentry(project, *(str(path) if arg == "RECORD" else arg for arg in command))
    assert result.exit_code == 2, result.output
    assert "SENTRY_MEMBER_ROLE, SENTRY_MODE are set in your shell" in result.output
    assert "SENTRY_SUITE_RECORD" not in result.output
    assert (flag or "set SENTRY_MEMBER_ROLE, SENTRY_MODE in the stage's environment_variables") in result.output


# --- where a record is acted on ---------------------------------------------------


def test_a_record_of_another_account_is_refused_in_a_single_accounts_stage(
    project: Path, world: World, tmp_path: Path
) -> None:
    group = world.group()
    set_stage(project, SENTRY_GROUP_IDS=group, SENTRY_TOPIC_ARN=world.topic_arn)
    path, _ = opened(world, group, tmp_path, account="210987654321")
    result = sentry(project, "replay", str(path))
    assert result.exit_code == 1
    assert "refused: the record is of account 210987654321, but your credentials are of 123456789012" in result.output
    assert SSH_WORLD in world.rules(group) and world.messages() == []


def test_a_record_of_another_region_is_acted_on_in_its_own_region_and_says_so(project: Path, world: World) -> None:
    there = World.build(*(boto3.client(name, region_name=OTHER_REGION) for name in ("ec2", "sns", "sqs")))
    group = there.group()
    set_stage(project, SENTRY_GROUP_IDS=group)
    params = {"GroupId": group, "IpPermissions": [ssh_from()]}
    _, created = cloudtrail.apply(there.ec2, "AuthorizeSecurityGroupIngress", **params)
    path = project / "record.json"
    path.write_text(
        json.dumps(cloudtrail.record("AuthorizeSecurityGroupIngress", params, created, region=OTHER_REGION))
    )
    result = sentry(project, "replay", str(path))
    assert result.exit_code == 0, result.output
    assert f"  note: the record is of region {OTHER_REGION}, not {REGION}: it is acted on in {OTHER_REGION}" in (
        result.output
    )
    assert there.rules(group) == {EGRESS}


# --- the deployed function --------------------------------------------------------


def invoked(project: Path, answer: bytes, log: str, **response: Any) -> Any:
    """What replay makes of the deployed function's answer (stubbed: moto runs no function)."""
    client = boto3.client("lambda", region_name=REGION)
    event = {"id": "e-1", "detail": {"eventID": "e-1"}}
    with Stubber(client) as stub:
        payload = StreamingBody(io.BytesIO(answer), len(answer))
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "LogResult": base64.b64encode(log.encode()).decode(), "Payload": payload, **response},
            {
                "FunctionName": "sg-sentry-prod-on_security_group_change",
                "Payload": json.dumps(event).encode(),
                "LogType": "Tail",
            },
        )
        return replay_deployed(client, Project(project), "prod", event)


def test_the_deployed_functions_own_error_is_shown(project: Path) -> None:
    error = {"errorType": "RevertFailed", "errorMessage": "could not revert 1 rule(s) on sg-1", "stackTrace": []}
    replayed = invoked(project, json.dumps(error).encode(), "START\n", FunctionError="Unhandled")
    assert replayed.failed and replayed.log == "START\n"
    assert replayed.headline == "the function failed: RevertFailed: could not revert 1 rule(s) on sg-1"
    timeout = invoked(project, b"Task timed out after 60.06 seconds", "", FunctionError="Unhandled")
    assert timeout.headline == "the function failed: Unhandled: Task timed out after 60.06 seconds"


def test_the_deployed_functions_answer_is_put_in_its_words(project: Path) -> None:
    line = {"level": "INFO", "outcome": "not-guarded", "message": "sg-1 is not guarded (sg-2)"}
    answer = {"outcome": "not-guarded", "reason": "sg-1 is not guarded (sg-2)", "group_id": "sg-1"}
    replayed = invoked(project, json.dumps(answer).encode(), f"START\n{json.dumps(line)}\nEND\n")
    assert (replayed.mark, replayed.headline) == ("–", "not-guarded: sg-1 is not guarded (sg-2): sg-1")
    assert replayed.lines == ("INFO not-guarded: sg-1 is not guarded (sg-2)",)


@pytest.mark.parametrize("command", [(), ("replay",), ("sweep",), ("snapshot",), ("doctor",)])
def test_no_help_advises_a_setting_in_the_shell(command: tuple[str, ...]) -> None:
    # SENTRY_DRY_RUN=true in the shell once looked like "only look"; the shipped dev stage then reverted for real.
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "SENTRY_DRY_RUN=true" not in result.output


def test_a_sweep_of_a_stage_that_guards_nothing_says_so_and_fails(project: Path) -> None:
    set_stage(project, SENTRY_GROUP_TAG="")
    result = sentry(project, "sweep")
    assert result.exit_code == 1 and "no security group is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG" in (
        result.output
    )
