"""The Chalice project on disk: stages, their environment, their policy, and what Chalice names things.

Edits change only the values they set and keep every other character of the
file (json_edit.py), so `sentry setup` can be run on a config.json and a
policy a person maintains.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.domain.config import TOPIC_ARN
from sentrycli.json_edit import CannotEdit, Location, set_value

APP_NAME = "sg-sentry"
HANDLER = "on_security_group_change"
SWEEP = "sweep"
WORKER = "sweep_worker"
POLICY_TEMPLATE_STAGE = "dev"
PUBLISH_SID = "PublishReports"
# The stage's second topic, for chat: the PublishReports statement names it too.
CHAT_TOPIC = "SENTRY_CHAT_TOPIC_ARN"
# Chalice stage names end up in function, role and file names.
STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class ProjectError(RuntimeError):
    """The project directory is not an sg-sentry Chalice project, or a file in it is malformed."""


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / ".chalice" / "config.json"

    def config(self) -> dict[str, Any]:
        return _read_json(self.config_path)

    def has_stage(self, stage: str) -> bool:
        return stage in self.config().get("stages", {})

    def stage(self, stage: str) -> dict[str, Any]:
        stages = self.config().get("stages", {})
        if stage not in stages:
            raise ProjectError(f"stage {stage!r} is not in {self.config_path} (stages: {', '.join(stages) or 'none'})")
        return dict(stages[stage])

    def environment(self, stage: str, function: str | None = None) -> dict[str, str]:
        """The stage's environment variables, over the project-wide ones, and the stage's for `function` over both.

        As Chalice merges them for a function (a project-wide `lambda_functions` entry's are not merged).
        """
        entry = self.stage(stage)
        own = entry.get("lambda_functions", {}).get(function, {}) if function else {}
        return {
            **self.config().get("environment_variables", {}),
            **entry.get("environment_variables", {}),
            **own.get("environment_variables", {}),
        }

    def baseline_path(self, stage: str) -> Path:
        """The stage's baseline file: SENTRY_BASELINE_FILE (from the project root), else chalicelib/baseline.json."""
        configured = self.environment(stage).get("SENTRY_BASELINE_FILE", "").strip()
        path = Path(configured) if configured else Path("chalicelib") / "baseline.json"
        return path if path.is_absolute() else self.root / path

    def policy_path(self, stage: str) -> Path:
        name = str(self.stage(stage).get("iam_policy_file", f"policy-{stage}.json"))
        return self.root / ".chalice" / name

    def policy(self, stage: str) -> dict[str, Any]:
        return _read_json(self.policy_path(stage))

    def function_name(self, stage: str) -> str:
        """What `chalice deploy` names the function: app, stage and handler."""
        return f"{APP_NAME}-{stage}-{HANDLER}"

    def sweep_name(self, stage: str) -> str:
        """What `chalice deploy` names the sweep function."""
        return f"{APP_NAME}-{stage}-{SWEEP}"

    def worker_name(self, stage: str) -> str:
        """What `chalice deploy` names the sweep's worker (a stage with SENTRY_SWEEP_QUEUE has one)."""
        return f"{APP_NAME}-{stage}-{WORKER}"

    def rule_name(self, stage: str) -> str:
        return f"{self.function_name(stage)}-event"

    def set_topic(self, stage: str, topic_arn: str) -> list[tuple[Path, bool]]:
        """Write the topic into the stage's environment and scope its policy's sns:Publish to it (`topic_edit`).

        A stage without a policy file gets one, copied from the dev stage's.
        Returns each file, and whether it was written (False: it said so already).
        """
        edits = self.topic_edit(stage, topic_arn)
        changed = {path: text for path, text in edits.items() if not path.exists() or _read_text(path) != text}
        _write_texts(changed)
        return [(path, path in changed) for path in edits]

    def topic_edit(self, stage: str, topic_arn: str) -> dict[Path, str]:
        """The new text of config.json and of the stage's policy, computed without writing.

        The policy's PublishReports statement may publish to the topic, and to
        the stage's chat topic when it names one (SENTRY_CHAT_TOPIC_ARN): its
        Resource is then the two. Only the values that change are replaced (or
        inserted); every other character of either file stays as it was.
        Raises on anything malformed.
        """
        if not STAGE_NAME.match(stage):
            raise ProjectError(f"{stage!r} is not a stage name (letters, digits, '-' and '_', at most 40)")
        entry = ["stages", stage]
        config = _read_text(self.config_path)
        # A stage that names no policy file gets its own (kept if it names one).
        config = _edit(self.config_path, config, [*entry, "iam_policy_file"], f"policy-{stage}.json", replace=False)
        config = _edit(self.config_path, config, [*entry, "environment_variables", "SENTRY_TOPIC_ARN"], topic_arn)
        edited = json.loads(config)
        resource = _publish_resource(self.config_path, edited, stage, topic_arn)
        policy_path = self.root / ".chalice" / str(edited["stages"][stage]["iam_policy_file"])
        template = policy_path if policy_path.exists() else self.policy_path(POLICY_TEMPLATE_STAGE)
        policy = _read_text(template)
        statements = _decode(template, policy).get("Statement", [])
        listed = statements if isinstance(statements, list) else [statements]
        publish = [
            at
            for at, statement in enumerate(listed)
            if isinstance(statement, dict) and statement.get("Sid") == PUBLISH_SID
        ]
        if len(publish) != 1:
            raise ProjectError(f"{template} needs exactly one statement with Sid {PUBLISH_SID!r} to scope to the topic")
        statement = ["Statement", publish[0]] if isinstance(statements, list) else ["Statement"]
        return {self.config_path: config, policy_path: _edit(template, policy, [*statement, "Resource"], resource)}


def _publish_resource(path: Path, config: dict[str, Any], stage: str, topic_arn: str) -> str | list[str]:
    """What the stage may publish to: its topic, and its chat topic too when the stage (or the project) names one."""
    names = {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}
    chat = str(names.get(CHAT_TOPIC, "")).strip()
    if not chat:
        return topic_arn
    said = f"{path}: {CHAT_TOPIC} of stage {stage} is {chat!r}"
    if not TOPIC_ARN.match(chat):
        raise ProjectError(f"{said}, not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME); nothing was written")
    if chat == topic_arn:
        raise ProjectError(f"{said}, the topic for email: chat needs a topic of its own; nothing was written")
    return [topic_arn, chat]


def _read_text(path: Path) -> str:
    """The file's text, exactly (UTF-8, line endings as they are)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"{path} does not exist: is this an sg-sentry project directory?") from None
    except OSError as error:
        raise ProjectError(f"{path} cannot be read: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        raise ProjectError(f"{path} is not UTF-8 text (line {line}, column {column}): {error.reason}") from None


def _decode(path: Path, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProjectError(
            f"{path} is not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"
        ) from None
    if not isinstance(value, dict):
        raise ProjectError(f"{path} should hold a JSON object")
    return value


def _read_json(path: Path) -> dict[str, Any]:
    return _decode(path, _read_text(path))


def _edit(path: Path, text: str, location: Location, value: str | list[str], replace: bool = True) -> str:
    """`text` (the file at `path`) with `value` at `location`, every other character kept."""
    _decode(path, text)
    try:
        return set_value(text, location, value, replace=replace)
    except CannotEdit as error:
        raise ProjectError(f"{path} cannot be edited in place: {error}; nothing was written") from None


def _write_texts(files: dict[Path, str]) -> None:
    """Write every file or none: all are written to temporary files first, then renamed."""
    temporaries = {}
    try:
        for path, text in files.items():
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_bytes(text.encode("utf-8"))
            if path.exists():
                shutil.copymode(path, temporary)
            temporaries[path] = temporary
    except OSError:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        raise
    for path, temporary in temporaries.items():
        temporary.replace(path)
