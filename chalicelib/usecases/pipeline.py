"""What every way in shares around its own steps: starting an invocation, and finishing it.

Each use case (an event, the sweep, an event's check) is read -> scope ->
plan -> carry out -> report. The first and the last are the same for all:

* `start`: settings from the environment (a bad one is logged and raised:
  nothing is judged on a guess), the ports, the log;
* `finish`: one log line per group (and interface) and one for the whole,
  one message if the result is worth one, then the verdict for Lambda:
  raise what failed (so Lambda retries and alarms), and raise a failed
  notification only when nothing else failed, since a retry re-reverts
  nothing but does re-send the message.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.adapters.boto import BotoAws
from chalicelib.adapters.log import UNKNOWN_ACCOUNT, DecisionLog, Level, Metrics
from chalicelib.domain.accounts import AccountLabel, guarded_accounts, session_name
from chalicelib.domain.config import ConfigError, Settings
from chalicelib.domain.errors import AwsError, NotificationFailed
from chalicelib.domain.metrics import COULD_NOT_EVALUATE, NOT_UNDERSTOOD, Measures, change_measures, judgement_measures
from chalicelib.domain.outcome import (
    FAILURES,
    HandledChange,
    InterfaceOutcome,
    PassedOver,
    Summary,
    SweepResult,
    TagOutcome,
    summary_word,
)
from chalicelib.domain.ports import Aws, BaselinesPort, Message
from chalicelib.reports import build_report
from chalicelib.reports.fit import Report
from chalicelib.reports.parts import rule_document
from chalicelib.reports.problem import problem_report
from chalicelib.reports.text import plural

Result = HandledChange | SweepResult
NOTHING_GUARDED = "no security group is guarded: set SENTRY_GROUP_IDS or SENTRY_GROUP_TAG"


@dataclass(frozen=True)
class Invocation:
    """One invocation's settings, ports and log, and the fields every log line of it carries."""

    env: Mapping[str, str]
    settings: Settings
    services: Aws
    log: DecisionLog
    context: Mapping[str, Any] = field(default_factory=dict)
    # The deployment's own account, when Lambda's context said it (else STS is asked, once per container).
    home: str | None = None
    # The account acted in, once `acting_in` chose it; None: the deployment's own, with its own credentials.
    account: str | None = None

    def about(self, **context: Any) -> Invocation:
        """The same invocation, its log lines carrying these fields too (the event, its actor)."""
        return replace(self, context={**self.context, **context})

    def home_account(self) -> str:
        """The deployment's own account. Raises `AwsError`."""
        return self.home or self.services.home_account()

    def acting_in(self, account: str | None, why: str, region: str = "unknown") -> Invocation | PassedOver:
        """This invocation acting in `account` (the record's), or why not (logged) when that account is not guarded.

        The deployment's own account is acted in with its own credentials; a
        member account through the member role, with a session named after
        `why` (the event, the sweep round). Raises `AwsError` when the
        account cannot be judged or entered: nothing is done anywhere then.
        A record that names no account is acted on in the deployment's own
        only when that is the only one it guards.
        """
        settings = self.settings
        if account is None and not settings.accounts.home_only:
            return self._refuse_unnamed(why, region)
        if settings.accounts.home_only and self.home is None:
            # A single account's deployment outside Lambda (the CLI, local tests): its credentials are its
            # account's, so whatever the record says, a call can only act there (a group of another account
            # is not found). Lambda's context names the account at no cost, and then it is compared.
            return self
        home = self.home_account()
        account = account or home
        if account == self.account:
            return self  # acting there already: an event's check after its revert
        # The deployment's own account is one of the organization's active ones: no need to list them for it.
        listing = settings.accounts.organization and account != home
        organization = self.services.organization().active_accounts() if listing else {home: ""}
        if account not in guarded_accounts(settings.accounts, home, organization):
            where = f"this deployment guards {settings.accounts}" + (
                f" ({home})" if settings.accounts.home_only else ""
            )
            return self.pass_over(Level.INFO, f"account {account} is not guarded ({where})", Summary.NOT_GUARDED)
        if account == home and settings.accounts.home_only:
            return replace(self, home=home)
        if account == home:
            return replace(self, home=home, account=home).about(account=account)
        services = self.services.acting_in(account, session_name(why), settings.member_role)
        return replace(self, services=services, home=home, account=account).about(account=account)

    def _refuse_unnamed(self, why: str, region: str) -> PassedOver:
        problem = (
            "the record names no account (neither recipientAccountId nor the envelope's), so it is acted on nowhere"
        )
        passed = self.pass_over(Level.ERROR, problem, Summary.NOT_UNDERSTOOD, metrics=self.metrics(NOT_UNDERSTOOD))
        failure = self.publish(problem_report(problem, region, why))
        if failure is not None:
            raise failure  # neither acted on nor reported: Lambda must retry
        return passed

    def acting_account(self) -> str | None:
        """The account acted in: the one `acting_in` chose; None: the deployment's own (a single account's)."""
        return self.account

    def baselines(self) -> BaselinesPort:
        """The approved baseline's store: the file, or the organization's table."""
        return self.services.baselines(self.settings, self.home_account)

    def account_label(self) -> AccountLabel | None:
        """The account acted in, as reports name it (ID, and name where readable); None for a single account."""
        if self.account is None:
            return None
        try:
            name = self.services.organization().active_accounts().get(self.account)
        except AwsError:
            name = None  # the name is only for the email: no name, no harm
        return AccountLabel(self.account, name or None)

    def metrics(self, measures: Measures, mode: str | None = None, account: str | None = None) -> Metrics:
        """`measures` under this invocation's dimensions: the mode, and the account acted in (else its own)."""
        account = account or self.account or self.home or UNKNOWN_ACCOUNT  # no call to STS for a dimension
        return Metrics(measures, mode or self.settings.policy.mode, account)

    def quiet(self) -> Invocation:
        """The same invocation, publishing nothing: one place of a sweep round, whose round sends one message."""
        return replace(self, settings=replace(self.settings, topic_arn=None, chat_topic_arn=None))

    def say(self, level: Level, message: str, outcome: str, **fields: Any) -> None:
        self.log.write(level, message, outcome, **{**self.context, **fields})

    def pass_over(self, level: Level, message: str, outcome: Summary, **fields: Any) -> PassedOver:
        """Say why nothing is done, and answer with the same word and message."""
        self.say(level, message, outcome, **fields)
        said = {**self.context, **fields}
        return PassedOver(outcome, message, said.get("event_id"), said.get("group_id"))

    def guards_nothing(self) -> PassedOver | None:
        """Why nothing is judged (said) when the settings guard no group at all; None when they guard some."""
        if self.settings.scope.guards_anything:
            return None
        return self.pass_over(Level.WARNING, NOTHING_GUARDED, Summary.NOTHING_GUARDED)

    def publish(self, report: Report, **fields: Any) -> NotificationFailed | None:
        """Publish to the topic and the chat topic, those set; log each and return what failed, if anything."""
        failures = [self._send(self.settings.topic_arn, report, fields)]
        if self.settings.chat_topic_arn is not None:
            # Imported here: a deployment without chat never loads it.
            from chalicelib.reports.chat import chat_notification

            failures.append(self._send(self.settings.chat_topic_arn, chat_notification(report), fields))
        failed = [failure for failure in failures if failure is not None]
        return NotificationFailed("; ".join(map(str, failed))) if len(failed) > 1 else next(iter(failed), None)

    def _send(self, topic: str | None, message: Message, fields: Mapping[str, Any]) -> NotificationFailed | None:
        if topic is None:
            return None
        try:
            message_id = self.services.notifier(topic).publish(message)
        except NotificationFailed as error:
            self.say(Level.ERROR, str(error), Summary.NOTIFICATION_FAILED, **fields)
            return error
        self.say(Level.INFO, f"notified {topic} (message {message_id})", Summary.NOTIFIED, **fields)
        return None

    def cannot_evaluate(self, problem: str, report: Report, **fields: Any) -> NotificationFailed | None:
        """Nothing could be judged: log it and tell a person, with `report` (a problem report)."""
        self.say(Level.ERROR, problem, Summary.FAILED, metrics=self.metrics(COULD_NOT_EVALUATE), **fields)
        return self.publish(report)


def start(
    env: Mapping[str, str] | None, services: Aws | None, log: DecisionLog | None, home: str | None = None
) -> Invocation:
    """The invocation's settings (raises `ConfigError`, logged), ports and log; the real ones by default."""
    env = os.environ if env is None else env
    log = log or DecisionLog()
    try:
        settings = Settings.from_env(env)
    except ConfigError as error:
        log.write(Level.ERROR, str(error), Summary.CONFIG_ERROR)
        raise
    return Invocation(env, settings, services or BotoAws(), log, home=home)


def finish(run: Invocation, result: Result, failure: type[RuntimeError]) -> None:
    """Log what was done, publish one message if it is worth one, and raise `failure` if anything failed."""
    published = None
    if isinstance(result, HandledChange):
        report = build_report(result, run.account_label())  # its subject is the log line's message
        _log_change(run, result, report)
        published = run.publish(report, group_id=result.group.group_id)
    else:
        log_judgement(run, result)
        if result.worth_reporting:  # a clean sweep is silent: no report is built
            published = run.publish(build_report(result, run.account_label()))
    if published is not None and not result.failed:
        # Reverts and restores are idempotent: Lambda's retry reports them as already done.
        raise published
    if result.failed:
        raise failure(failed_words(result))


def failed_words(result: Result) -> str:
    """What failed, in one line: the message of the error raised for Lambda."""
    if isinstance(result, HandledChange):
        errors = "; ".join(f"{item.rule}: {item.error}" for item in result.failures)
        return f"could not revert or restore {len(result.failures)} rule(s) on {result.group.group_id}: {errors}"
    kinds = Counter(
        "interface" if isinstance(item, InterfaceOutcome) else "guard tag" if isinstance(item, TagOutcome) else "rule"
        for item in result.failures
    )
    said = [plural(count, noun) for noun, count in sorted(kinds.items(), key=lambda kind: kind[0] != "rule")]
    reasons = sorted({item.error for item in result.failures if item.error})
    words = [f"could not put right {', '.join(said)} ({'; '.join(reasons[:3])})"] if said else []
    failed = "; ".join(words + [f"could not check: {problem}" for problem in result.problems])
    return f"the {who(result)} of {result.region} {failed}; see the log"


def who(result: SweepResult) -> str:
    return f"{result.trigger.change.event_name} check" if result.trigger else "sweep"


def _log_change(run: Invocation, handled: HandledChange, report: Report) -> None:
    level = Level.ERROR if handled.failed or handled.incomplete else Level.INFO
    rules = [rule_document(item) for item in handled.group.rules]
    metrics = run.metrics(change_measures(handled), handled.group.mode)
    run.say(level, report.subject, handled.summary, group_id=handled.group.group_id, rules=rules, metrics=metrics)


def log_judgement(run: Invocation, result: SweepResult) -> None:
    """One log line per group (and interface) put right, and one for the whole judgement."""
    for swept in result.drifted:
        level = Level.ERROR if swept.failures else Level.INFO
        documents = [rule_document(item) for item in swept.rules]
        word = summary_word(swept.outcomes) or Summary.CLEAN
        run.say(level, f"{who(result)}: {word} on {swept.group_id}", word, group_id=swept.group_id, rules=documents)
    for item in result.interfaces:
        level = Level.ERROR if item.outcome in FAILURES else Level.INFO
        word = summary_word((item,)) or Summary.CLEAN
        run.say(level, f"{who(result)}: {word}: {item.fix.reason}", word)
    said = (
        f"{who(result)} of {result.region}: {plural(result.groups_checked, 'group')}, "
        f"{plural(result.rules_checked, 'rule')}, {len(result.drifted)} drifted, "
        f"{len(result.unjudged)} judged for exposure only (lockdown without a baseline), "
        f"{plural(len(result.interfaces), 'interface')} opening a guarded workload"
    )
    level = Level.ERROR if result.failed else Level.WARNING if result.unjudged else Level.INFO
    prefix = "" if result.trigger else "sweep-"
    run.say(level, said, f"{prefix}{result.summary}", metrics=run.metrics(judgement_measures(result), result.mode))
