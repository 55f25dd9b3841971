"""The `sentry` command line: thin click commands over sentrycli's modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sentrycli.project import Project, ProjectError

STAGE_HELP = "Chalice stage in .chalice/config.json (one stage per region)."


class Context:
    def __init__(self, project_dir: str, region: str | None) -> None:
        self.project = Project(Path(project_dir).resolve())
        self._region = region

    @property
    def region(self) -> str:
        import boto3

        region = self._region or boto3.session.Session().region_name
        if not region:
            raise click.UsageError("no AWS region: pass --region or set AWS_REGION")
        return str(region)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region)


@click.group(
    help="""Set up, check and exercise sg-sentry, the security-group guard.

\b
Typical first run, in the project directory with AWS credentials for the account:
  sentry setup --email secops@example.com   # SNS topic + email, written into the dev stage
  chalice deploy --stage dev                # the function and its EventBridge rule
  sentry doctor                             # is everything it depends on in place?
  sentry replay event.json --local          # feed it a recorded CloudTrail record
""",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True),
    help="The sg-sentry project (the folder holding .chalice/).",
)
@click.option("--region", envvar="AWS_REGION", help="AWS region (default: AWS_REGION or your AWS config).")
@click.pass_context
def cli(ctx: click.Context, project_dir: str, region: str | None) -> None:
    ctx.obj = Context(project_dir, region)


@cli.command(
    help="""Create the SNS topic for reports and subscribe an email address to it.

Writes the topic's ARN into the stage's environment in .chalice/config.json
(leaving the rest of the file as it was) and scopes the stage's IAM policy
(sns:Publish) to that topic. Safe to run again. The address must confirm the
subscription from the email AWS sends before reports arrive."""
)
@click.option("--email", required=True, help="Where reports go.")
@click.option("--stage", default="dev", show_default=True, help=STAGE_HELP)
@click.option("--topic-name", help="Topic name (default: sg-sentry-STAGE).")
@click.pass_obj
def setup(context: Context, email: str, stage: str, topic_name: str | None) -> None:
    from sentrycli.setup_topic import setup_topic

    try:
        result = setup_topic(context.client("sns"), context.project, stage, email, topic_name)
    except (ValueError, ProjectError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"✓ topic {result.topic_arn}")
    pending = not result.subscription.startswith("arn:")
    click.echo(f"✓ {email} subscribed" + (" (pending: confirm from the email AWS sent)" if pending else ""))
    for path in result.written:
        click.echo(f"✓ wrote {path}")
    click.echo(f"Next: chalice deploy --stage {stage}, then sentry doctor --stage {stage}")


@cli.command(
    help="""Check everything the sentry depends on, one line each, and exit 1 if anything is missing.

\b
  CloudTrail  a trail logs management write events in this region
  SNS topic   the stage's topic exists and has a confirmed subscription
  groups      every configured group exists (or some group carries the tag)
  function    the deployed function exists and its role allows every call
  rule        an enabled EventBridge rule sends security-group changes to it"""
)
@click.option("--stage", default="dev", show_default=True, help=STAGE_HELP)
@click.pass_obj
def doctor(context: Context, stage: str) -> None:
    from sentrycli.doctor import run_checks

    try:
        checks = run_checks(context.project, stage, context.region, context.client)
    except ProjectError as error:
        raise click.ClickException(str(error)) from None
    for check in checks:
        click.echo(check.line())
    failed = sum(not check.ok for check in checks)
    click.echo(f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed")
    if failed:
        sys.exit(1)


@cli.command(
    help="""Send a recorded CloudTrail record (or EventBridge event) to the sentry and print the outcome.

FILE holds one record or event, a list of them, or a trail log file
({"Records": [...]}). With --local (the default) the handler runs in this
process with the stage's environment, against the AWS your credentials (or
AWS_ENDPOINT_URL) point at; with --stage alone it invokes the deployed
function. Careful: the sentry acts on what it is given, so a replayed change
to a guarded group is reverted for real."""
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--local", "local", is_flag=True, help="Run the handler here (default unless --stage is given).")
@click.option("--stage", default=None, help=STAGE_HELP + " Without --local: the deployed function of that stage.")
@click.pass_obj
def replay(context: Context, file: Path, local: bool, stage: str | None) -> None:
    from sentrycli.replay import load_events, replay_deployed, replay_local

    try:
        events = load_events(file)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    failures = 0
    for event in events:
        event_id = event.get("detail", {}).get("eventID", event.get("id"))
        try:
            if local or stage is None:
                answer = replay_local(context.project, stage or "dev", event)
                ok = True
            else:
                ok, answer, log = replay_deployed(context.client("lambda"), context.project, stage, event)
                click.echo(log, nl=False)
        except Exception as error:  # the handler's own failure is the outcome to report
            ok, answer = False, f"{type(error).__name__}: {error}"
        failures += not ok
        click.echo(f"{'✓' if ok else '✗'} {event_id}: {json.dumps(answer)}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    cli()
