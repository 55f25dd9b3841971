"""The `sentry` command line: thin click commands over sentrycli's modules."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from sentrycli.project import Project, ProjectError
from sentrycli.settings import DRY_RUN, ShellSettings, refuse_shell_settings, stage_settings

STAGE_HELP = "Chalice stage in .chalice/config.json; one stage per region."


class Context:
    def __init__(self, project_dir: str) -> None:
        self.project = Project(Path(project_dir).resolve())
        self.region: str | None = None

    def use_region(self, region: str | None) -> str:
        import boto3

        # The same lookup as Chalice's: --region, else AWS_DEFAULT_REGION or the AWS config file.
        self.region = region or boto3.session.Session().region_name
        if not self.region:
            raise click.UsageError("no AWS region: pass --region or set AWS_DEFAULT_REGION (as for chalice deploy)")
        return self.region

    def client(self, service: str, region: str | None = None, credentials: Mapping[str, Any] | None = None) -> Any:
        """A client of `service` in `region` (default: the CLI's), with `credentials` (STS's) or your own."""
        import boto3

        keys = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            }
        return boto3.client(service, region_name=region or self.region, **keys)


def refuse_shell(context: Context, flags: Mapping[str, str]) -> None:
    """The one rule for settings (sentrycli.settings): none from the shell; a usage error naming each."""
    try:
        refuse_shell_settings(context.project, flags)
    except ShellSettings as error:
        raise click.UsageError(str(error)) from None


def region_option[F: Callable[..., Any]](command: F) -> F:
    return click.option(
        "--region",
        help="AWS region of the stage (default: AWS_DEFAULT_REGION or your AWS config, as chalice deploy uses).",
    )(command)


def member_account_options[F: Callable[..., Any]](command: F) -> F:
    """--stage, and the member account a command reads groups in (snapshot, allow), entered as the sentry does."""
    command = region_option(command)
    for option in reversed(
        (
            click.option("--stage", default="dev", show_default=True, help=STAGE_HELP),
            click.option(
                "--account", metavar="ID", help="A member account of an organization's stage (needs the table)."
            ),
            click.option("--account-region", metavar="REGION", help="The region of the groups (default: --region)."),
            click.option(
                "--member-role", metavar="NAME", help="The role to enter --account by (default: the stage's)."
            ),
        )
    ):
        command = option(command)
    return command


@click.group(
    help="""Set up, check and exercise sg-sentry, the security-group guard.

\b
A first deployment, run in the project folder with credentials for the account:
  sentry setup --email secops@example.com   # SNS topic + email, written into the dev stage
  chalice deploy --stage dev                # the function and its EventBridge rule
  sentry doctor                             # is everything it depends on in place?
  sentry replay record.json --dry-run       # what it would do with a recorded CloudTrail record

Each command takes --region; it defaults to AWS_DEFAULT_REGION, as chalice deploy does.
Settings come from the stage (environment_variables in .chalice/config.json)
and each command's flags, which win; SENTRY_* settings in your shell are
refused, never applied.""",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True),
    help="The sg-sentry project (the folder holding .chalice/).",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: str) -> None:
    ctx.obj = Context(project_dir)


@cli.command(
    help="""Create the SNS topic for reports and subscribe an email address to it.

The topic (sg-sentry-STAGE unless --topic-name) is created in the stage's
region. Its ARN is written into the stage's environment in
.chalice/config.json, and the stage's IAM policy is scoped to publish to
that topic only (and to SENTRY_CHAT_TOPIC_ARN's, when the stage sets one):
only those two values change, every other character of either file stays
as it was. Safe to run again. The address must confirm
the subscription from the email AWS sends before reports arrive. A stage
that does not exist yet is created only with --create-stage (it gets its
own policy-STAGE.json, copied from dev's)."""
)
@click.option("--email", required=True, help="Where reports go.")
@click.option("--stage", default="dev", show_default=True, help=STAGE_HELP)
@click.option("--topic-name", help="Topic name (default: sg-sentry-STAGE).")
@click.option("--create-stage", is_flag=True, help="Add the stage to config.json if it is not there.")
@region_option
@click.pass_obj
def setup(
    context: Context, email: str, stage: str, topic_name: str | None, create_stage: bool, region: str | None
) -> None:
    from sentrycli.setup_topic import setup_topic

    try:
        if not create_stage and not context.project.has_stage(stage):
            raise ProjectError(
                f"stage {stage!r} is not in {context.project.config_path}; pass --create-stage to add it"
            )
        context.use_region(region)
        result = setup_topic(context.client("sns"), context.project, stage, email, topic_name)
    except (ValueError, ProjectError) as error:
        raise click.ClickException(str(error)) from None
    except (ClientError, BotoCoreError) as error:
        raise click.ClickException(f"AWS refused: {error}") from None
    click.echo(f"✓ topic {result.topic_arn}")
    pending = not result.subscription.startswith("arn:")
    click.echo(f"✓ {email} subscribed" + (" (pending: confirm from the email AWS sent)" if pending else ""))
    for path, written in result.files:
        click.echo(f"✓ wrote {path}" if written else f"✓ {path} already names the topic")
    click.echo(f"Next: chalice deploy --stage {stage}, then sentry doctor --stage {stage}")


@cli.command(
    help="""Check everything the sentry depends on, one line each; exit 1 if anything is missing.

\b
  configuration  the settings the deployed function runs with (else config.json)
  CloudTrail     a trail logs management write events in this region
  SNS topic      the topic exists and has a confirmed subscription
  guarded groups every configured group exists (or some group carries the tag)
  function       it is deployed and healthy, and its role allows every call on
                 the resources it will touch
  EventBridge    an enabled rule sends security-group changes to the function
                 and may invoke it
  sweep          the sweep function is deployed, healthy, allowed every call,
                 and an enabled schedule invokes it

\b
A stage guarding more (SENTRY_ACCOUNTS, SENTRY_REGIONS) gets one more line
per guarded account and region, then how many are ready:
  forwarding     an enabled rule with the sentry's pattern sends the events
                 to the central account's default bus (not needed in the
                 central account's own region)
  member role    it exists, trusts the central functions' roles within the
                 organization, and allows every EC2 call the sentry makes
                 (read once per account; none needed in the central account)
  CloudTrail     a trail logs management write events in that region
Member accounts are read through --audit-role, assumed with your
credentials (session sg-sentry-doctor); it needs only these reads:
events:ListRuleNamesByTarget, DescribeRule, ListTargetsByRule;
iam:GetRole, ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies,
GetPolicy, GetPolicyVersion; cloudtrail:DescribeTrails, GetTrailStatus,
GetEventSelectors. An account it cannot be assumed in fails its lines.
Not judged: service control policies, permission boundaries, the
forwarding role's own permission and the central bus's policy."""
)
@click.option("--stage", default="dev", show_default=True, help=STAGE_HELP)
@click.option(
    "--function-name", help="The deployed function, if not Chalice's name (CloudFormation or Terraform deployments)."
)
@click.option("--sweep-function-name", help="The deployed sweep function, likewise.")
@click.option("--worker-function-name", help="The deployed sweep worker (a stage with SENTRY_SWEEP_QUEUE), likewise.")
@click.option(
    "--audit-role",
    metavar="NAME",
    default="OrganizationAccountAccessRole",
    show_default=True,
    help="The role to read member accounts through (the member role trusts only the central functions).",
)
@region_option
@click.pass_obj
def doctor(
    context: Context,
    stage: str,
    function_name: str | None,
    sweep_function_name: str | None,
    worker_function_name: str | None,
    audit_role: str,
    region: str | None,
) -> None:
    from sentrycli.doctor import Doctor

    refuse_shell(context, {})
    try:
        context.project.stage(stage)
        region = context.use_region(region)
        names = (function_name, sweep_function_name, worker_function_name)
        doctor = Doctor(context.project, stage, region, context.client, *names)
        checks = doctor.run()
        places = doctor.organization(audit_role)
    except (ValueError, ProjectError) as error:
        raise click.ClickException(str(error)) from None
    for check in checks:
        click.echo(check.line())
    for line in places.lines() if places else []:
        click.echo(line)
    failed = sum(not check.ok for check in checks)
    click.echo(f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed")
    if failed or (places and not places.ok):
        sys.exit(1)


@cli.command(
    help="""Send recorded CloudTrail records to the sentry and say what it did with each.

FILE holds one CloudTrail record (as shown by CloudTrail's Event history,
"View event"), an EventBridge event, a list of them, or a trail log file
({"Records": [...]}). By default the handler runs in this process with the
stage's settings, against the AWS your credentials (or AWS_ENDPOINT_URL)
point at; with --deployed the stage's deployed function is invoked instead,
with the settings it was deployed with.

Careful: the sentry acts on what it is given. A replayed change to a
guarded group is reverted for real and reported to the stage's topic. To
only look, pass --dry-run: nothing is changed and nothing is published,
whatever the stage says, and the output shows what the message would say.
--dry-run runs here only: the deployed function keeps its own settings.

Each record is acted on in its own account and region, not --region's. In
a single account's stage, a record of another account than your
credentials' is refused; in an organization's stage (SENTRY_ACCOUNTS) a
member account is entered through the member role, as the deployed
function enters it.

\b
One line per record, then what the message says:
  ✓  done, or judged with nothing to put right
  –  not acted on, in the log's word (nothing-to-do, not-guarded,
     own-change, out-of-scope, ...) and why
  ✗  failed, not understood, or refused: the command exits 1
--json prints the handler's answers instead, one JSON object per line (the
decision log goes to stderr). SENTRY_* settings in your shell are refused:
every command takes the stage's, and its flags."""
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--stage", default="dev", show_default=True, help=STAGE_HELP)
@click.option("--local", is_flag=True, help="Run the handler here, with the stage's settings (the default).")
@click.option("--deployed", is_flag=True, help="Invoke the stage's deployed function.")
@click.option("--dry-run", is_flag=True, help="Change nothing and publish nothing; say what would be done.")
@click.option("--json", "as_json", is_flag=True, help="Print the handler's answers as JSON, one per line.")
@region_option
@click.pass_obj
def replay(
    context: Context,
    file: Path,
    stage: str,
    local: bool,
    deployed: bool,
    dry_run: bool,
    as_json: bool,
    region: str | None,
) -> None:
    from sentrycli import replay as replays
    from sentrycli.project import HANDLER

    if local and deployed:
        raise click.UsageError("--local or --deployed, not both: the handler runs here, or the deployed function does")
    if deployed and dry_run:
        raise click.UsageError(
            "--dry-run runs here only: the deployed function runs with its own settings, so it cannot be told to only "
            "look. Use --local --dry-run, or deploy a stage with SENTRY_DRY_RUN set to true"
        )
    refuse_shell(context, {"SENTRY_DRY_RUN": "--dry-run"})
    try:
        staged = stage_settings(context.project, stage, HANDLER, dry_run=dry_run)
        events = replays.load_events(file)
        home_region = context.use_region(region)
        caller = str(context.client("sts").get_caller_identity()["Account"])
    except (ValueError, ProjectError) as error:
        raise click.ClickException(str(error)) from None
    except (ClientError, BotoCoreError) as error:
        raise click.ClickException(f"AWS refused: {error}") from None
    run: Callable[[dict[str, Any]], replays.Replayed]
    if deployed:
        client = replays.invoking_client(home_region, context.project, stage)
        run = partial(replays.replay_deployed, client, context.project, stage)
    else:
        env = {**staged.env, "AWS_REGION": home_region}
        run = partial(replays.replay_local, context.project, stage, env=env, home=caller)
    failures = 0
    for event in events:
        replayed = replays.replay(event, staged.settings, caller, home_region, run)
        failures += replayed.failed
        if as_json:
            click.echo("".join(f"note: {note}\n" for note in replayed.notes) + replayed.log, nl=False, err=True)
            click.echo(json.dumps(replayed.answer))
        else:
            click.echo(replayed.text())
    if staged.dry_run and not deployed:  # the deployed function runs with its own settings, and says so itself
        click.echo(DRY_RUN, err=as_json)
    if failures:
        sys.exit(1)


@cli.command(
    help="""Record the rules the guarded groups have now as their approved baseline.

Reads the stage's guarded groups (or only those named with --group) and
writes their rules to the baseline file (chalicelib/baseline.json unless
the stage sets SENTRY_BASELINE_FILE), replacing those groups' entries and
keeping the others. Review the diff, commit it, and deploy: in lockdown
mode the sentry then holds each of these groups to exactly these rules,
reverting what is added and restoring what is removed or changed.

\b
A stage with SENTRY_BASELINE_TABLE writes to that table instead (in the
stage's region, --region), taking effect at once; --account snapshots a
member account's groups in --account-region (default: --region), entered
through --member-role (default: the stage's member role, which trusts only
the sentry's functions: name a role that trusts you, such as an audit role).

A rule that stands by an exception (sentry allow), valid or ended, is left
out, with a line saying so: the sweep revokes it once the exception ends."""
)
@click.option("--group", "group_ids", multiple=True, metavar="ID", help="Only this group (repeatable).")
@member_account_options
@click.pass_obj
def snapshot(
    context: Context,
    group_ids: tuple[str, ...],
    stage: str,
    account: str | None,
    account_region: str | None,
    member_role: str | None,
    region: str | None,
) -> None:
    from datetime import UTC, datetime

    from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
    from chalicelib.domain.baseline import BaselineError
    from chalicelib.domain.config import ConfigError
    from chalicelib.domain.errors import AwsError
    from sentrycli import snapshot as snapshots
    from sentrycli.allow import store_of
    from sentrycli.project import HANDLER

    refuse_shell(context, {"SENTRY_MEMBER_ROLE": "--member-role"})
    try:
        settings = stage_settings(context.project, stage, HANDLER, member_role=member_role).settings
        if account and not settings.baseline_table:
            raise ValueError("a member account's baseline lives in the table: the stage sets no SENTRY_BASELINE_TABLE")
        home_region = context.use_region(region)  # the stage's: where its table is
        groups_region = account_region or home_region
        role = member_role or settings.member_role
        ec2 = SecurityGroups(snapshots.ec2_client(context.client, groups_region, account, role), GroupCache())
        groups = snapshots.snapshot(ec2, settings.scope, groups_region, group_ids)
        owner = ""  # the file's store is the deployment's own account
        if settings.baseline_table:
            owner = account or str(context.client("sts").get_caller_identity()["Account"])
        dynamodb = context.client("dynamodb") if settings.baseline_table else None
        path = context.project.baseline_path(stage)
        store = store_of(settings.baseline_table, dynamodb, path, stage, owner, groups_region)
        groups, left_out = snapshots.without_exceptions(groups, store.allowances(), datetime.now(UTC))
        if settings.baseline_table:
            where = snapshots.write_table(groups, dynamodb, settings.baseline_table, owner)
        else:
            where = str(context.project.baseline_path(stage))
            snapshots.write(groups, context.project.baseline_path(stage))
    except (ValueError, ProjectError, ConfigError, BaselineError) as error:
        raise click.ClickException(str(error)) from None
    except (AwsError, ClientError, BotoCoreError) as error:
        raise click.ClickException(f"AWS refused: {error}") from None
    for group in groups:
        click.echo(f"✓ {group.group_id}" + (f" ({group.name})" if group.name else "") + f": {len(group.rules)} rules")
    for said in left_out:
        click.echo(said)
    click.echo(f"✓ wrote {where}")
    mode = settings.policy.mode.value
    if mode != "lockdown":
        click.echo(f"Note: stage {stage} runs in {mode} mode; a baseline is used in lockdown mode only.")
    if settings.baseline_table:
        click.echo("The sentry holds these groups to it from its next event or sweep: no deploy needed.")
    else:
        click.echo(f"Next: review and commit the file, then chalice deploy --stage {stage}")


@cli.command(
    "allow",
    help="""Grant a time-boxed exception (break-glass): one rule on one group, for a while.

\b
  sentry allow --group sg-0123 --rule "tcp 22 from 203.0.113.4/32" --for 2h --reason INC-42
  sentry allow --list [--group sg-0123]
  sentry allow --revoke allow-1a2b3c4d

The rule is written as the reports write it (ingress unless it says
"to ..., egress"); --for is 30m, 2h, 1d or 1h30m, at most 7 days. While
the exception is valid the sentry allows exactly that rule on exactly that
group, in either mode; once it has ended (expired or revoked) the sweep
revokes the rule, in either mode too, and says so. A CIDR is written as
its network (203.0.113.4/32, not 203.0.113.4/0); a prefix list is refused
(its entries can change after the grant); a CIDR wider than a /16 (IPv6:
/32) of the internet is granted with a warning. In internet mode a rule the policy
allows anyway needs no exception, and is refused; so is a rule already on the
group (its end would have the sweep revoke a rule that stood before it):
grant first, then add the rule. It is recorded, with
who granted it (your STS identity), when and why, in the stage's
baseline store: the baseline file (commit it and deploy, as after sentry
snapshot) or the stage's table (at once; --account and --account-region
for a member account, as for snapshot). --revoke ends it now and keeps
the record, naming you: the next sweep revokes the rule (or run sentry
sweep), and --list shows it REVOKED. sentry snapshot leaves out a rule
that stands by an exception, valid or ended, and says so. Nothing on the
group itself, no tag and no description, grants an exception.""",
)
@click.option("--group", "group_ids", multiple=True, metavar="ID", help="The group (with --list: only these).")
@click.option("--rule", "rule_text", metavar="TEXT", help='The rule, e.g. "tcp 22 from 203.0.113.4/32".')
@click.option("--for", "lasting", metavar="DURATION", help="How long: 30m, 2h, 1d, 1h30m (at most 7 days).")
@click.option("--reason", help="Why: the incident or ticket (INC-42).")
@click.option("--list", "listing", is_flag=True, help="List the exceptions: valid, expired, revoked.")
@click.option("--revoke", "revoking", metavar="ID", help="End the exception with this ID now (its record stays).")
@member_account_options
@click.pass_obj
def allow(
    context: Context,
    group_ids: tuple[str, ...],
    rule_text: str | None,
    lasting: str | None,
    reason: str | None,
    listing: bool,
    revoking: str | None,
    stage: str,
    account: str | None,
    account_region: str | None,
    member_role: str | None,
    region: str | None,
) -> None:
    from datetime import UTC, datetime

    from chalicelib.adapters.ec2 import GroupCache, SecurityGroups
    from chalicelib.domain.baseline import BaselineError
    from chalicelib.domain.config import ConfigError
    from chalicelib.domain.errors import AwsError
    from chalicelib.reports.text import plural
    from sentrycli import allow as allowing
    from sentrycli.project import HANDLER
    from sentrycli.snapshot import ec2_client

    now = datetime.now(UTC)
    refuse_shell(context, {"SENTRY_MEMBER_ROLE": "--member-role"})
    try:
        granting = not listing and not revoking
        if (listing and revoking) or (not granting and (rule_text or lasting or reason)):
            raise click.UsageError("choose one: grant (--group, --rule, --for, --reason), --list, or --revoke ID")
        wanted = None
        if granting:
            if len(group_ids) != 1:
                raise ValueError("name the one group the exception is for: --group sg-...")
            wanted = allowing.asked(group_ids[0], rule_text, lasting, reason)
        settings = stage_settings(context.project, stage, HANDLER, member_role=member_role).settings
        if account and not settings.baseline_table:
            raise ValueError("a member account's baseline lives in the table: the stage sets no SENTRY_BASELINE_TABLE")
        home_region = context.use_region(region)
        groups_region = account_region or home_region
        caller = context.client("sts").get_caller_identity()  # who grants: the record names them
        owner = account or str(caller["Account"])
        dynamodb = context.client("dynamodb") if settings.baseline_table else None
        path = context.project.baseline_path(stage)
        store = allowing.store_of(settings.baseline_table, dynamodb, path, stage, owner, groups_region)
        if listing:
            lines = allowing.listed(store, group_ids, now)
            for said in lines:
                click.echo(said)
            click.echo(f"{plural(len(lines), 'exception')} in {store.where}")
            return
        if revoking:
            ended = allowing.revoke(store, revoking, str(caller["Arn"]), now)
            click.echo(f"✓ {allowing.line(ended, now)}")
            click.echo(
                "The rule itself stays on the group until a sweep revokes it, in either mode, as it does an expired "
                f"exception's rule (sentry sweep --stage {stage} does it now)."
            )
            click.echo(f"Where: {store.where}; {store.effective}.")
            return
        assert wanted is not None
        role = member_role or settings.member_role
        ec2 = SecurityGroups(ec2_client(context.client, groups_region, account, role), GroupCache())
        made = allowing.grant(
            store, ec2, settings.policy, settings.scope, groups_region, wanted, str(caller["Arn"]), now
        )
    except (ValueError, ProjectError, ConfigError, BaselineError) as error:
        raise click.ClickException(str(error)) from None
    except (AwsError, ClientError, BotoCoreError) as error:
        raise click.ClickException(f"AWS refused: {error}") from None
    click.echo(f"✓ {allowing.line(made, now)}")
    warned = allowing.warning(made.rule)
    if warned is not None:
        click.echo(warned)
    click.echo(f"✓ wrote {store.where}; {store.effective}.")


@cli.command(
    help="""Sweep the guarded groups now, as the scheduled sweep does, and say what it did.

Runs in this process with the stage's settings and your credentials (or
AWS_ENDPOINT_URL): it reverts what the policy forbids, restores approved
rules that are missing, and publishes one summary to the stage's topic if
it found anything; it prints that summary (its subject and text). It holds
groups to the project's baseline file as it is in this folder (or to the
stage's table), which is what the deployed sweep uses once you deploy.

--dry-run (or a stage with SENTRY_DRY_RUN set to true) changes nothing and
publishes nothing: it prints what it would do and what the summary would
say. --json prints the sweep's answer as JSON instead (the decision log
goes to stderr). SENTRY_* settings in your shell are refused: every
command takes the stage's, and its flags.

\b
An organization's stage (SENTRY_ACCOUNTS, SENTRY_REGIONS) is swept here,
account-region by account-region, never through the queue; a member
account is entered through the member role, or --member-role if the role
the stage names does not trust you. --only-accounts and --only-regions
narrow the round; --region stays the region the CLI works in."""
)
@click.option("--stage", default="dev", show_default=True, help=STAGE_HELP)
@click.option("--dry-run", is_flag=True, help="Change nothing and publish nothing; say what would be done.")
@click.option(
    "--only-accounts", metavar="IDS", default="", help="Only these of the stage's accounts (comma-separated)."
)
@click.option("--only-regions", metavar="REGIONS", default="", help="Only these of the stage's sweep regions.")
@click.option("--member-role", metavar="NAME", help="The role to enter member accounts by (default: the stage's).")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep's answer as JSON.")
@region_option
@click.pass_obj
def sweep(
    context: Context,
    stage: str,
    dry_run: bool,
    only_accounts: str,
    only_regions: str,
    member_role: str | None,
    as_json: bool,
    region: str | None,
) -> None:
    from chalicelib.adapters import baseline_file
    from chalicelib.adapters.log import DecisionLog
    from chalicelib.domain.sweep_round import RoundResult
    from chalicelib.usecases.fan_out import sweep_round
    from chalicelib.usecases.pipeline import NOTHING_GUARDED
    from chalicelib.usecases.sweep import sweep as run_sweep
    from sentrycli.project import SWEEP
    from sentrycli.summary import in_words, indented, messages

    said = io.StringIO()
    log = DecisionLog(sys.stderr if as_json else said)
    refuse_shell(context, {"SENTRY_DRY_RUN": "--dry-run", "SENTRY_MEMBER_ROLE": "--member-role"})
    try:
        staged = stage_settings(context.project, stage, SWEEP, dry_run=dry_run, member_role=member_role)
        env, settings = staged.env, staged.settings
        if not settings.scope.guards_anything:
            raise ValueError(f"{NOTHING_GUARDED} in stage {stage} of {context.project.config_path}")
        # The project's baseline, as it would deploy: what is deployed now may differ until you deploy.
        approved = None if settings.baseline_table else baseline_file.load(context.project.baseline_path(stage))
        home_region = context.use_region(region)
        accounts = [part.strip() for part in only_accounts.split(",") if part.strip()]
        regions = [part.strip() for part in only_regions.split(",") if part.strip()]
        result: Any
        if settings.accounts.home_only and not settings.regions and not accounts and not regions:
            result = run_sweep(env, region=home_region, approved=approved, log=log)
        else:
            result = sweep_round(
                env,
                region=home_region,
                approved=approved,
                only_accounts=accounts,
                only_regions=regions,
                raises=False,
                log=log,
            )
    except (ValueError, ProjectError) as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:  # the sweep logged the details
        raise click.ClickException(f"the sweep failed: {type(error).__name__}: {error}") from None
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    elif isinstance(result, RoundResult):
        for place in result.places:
            mark = "✗" if place.failed else "✓"
            found = place.subject or place.problem or f"{place.summary}: {place.groups_checked} guarded groups"
            click.echo(f"{mark} {place.label} in {place.place.region}: {found}")
        reported = len(result.reported)
        click.echo(f"{len(result.places)} account-regions swept, {reported} found something (round {result.round_id})")
    else:
        mark, headline, lines = in_words(result)
        click.echo(indented(f"{mark} {home_region}: {headline}", lines))
    for message in messages(said.getvalue()):
        click.echo(message)
    if staged.dry_run:
        click.echo(DRY_RUN, err=as_json)
    if result.failed:
        sys.exit(1)


if __name__ == "__main__":
    cli()
