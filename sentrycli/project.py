"""The Chalice project on disk: stages, their environment, their policy, and what Chalice names things.

Edits keep every key they do not touch, in order, so `sentry setup` can be
run on a config.json a person maintains.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_NAME = "sg-sentry"
HANDLER = "on_security_group_change"
SWEEP = "sweep"
WORKER = "sweep_worker"
POLICY_TEMPLATE_STAGE = "dev"
PUBLISH_SID = "PublishReports"
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

    def set_topic(self, stage: str, topic_arn: str) -> list[Path]:
        """Write the topic into the stage's environment and scope its policy's sns:Publish to it.

        A stage without a policy file gets one, copied from the dev stage's.
        Returns the files written.
        """
        config, policy_path, policy = self.topic_edit(stage, topic_arn)
        _write_json({self.config_path: config, policy_path: policy})
        return [self.config_path, policy_path]

    def topic_edit(self, stage: str, topic_arn: str) -> tuple[dict[str, Any], Path, dict[str, Any]]:
        """What `set_topic` would write, computed without writing: it raises on anything malformed."""
        if not STAGE_NAME.match(stage):
            raise ProjectError(f"{stage!r} is not a stage name (letters, digits, '-' and '_', at most 40)")
        config = self.config()
        entry = config.setdefault("stages", {}).setdefault(stage, {})
        entry.setdefault("environment_variables", {})["SENTRY_TOPIC_ARN"] = topic_arn
        entry.setdefault("iam_policy_file", f"policy-{stage}.json")
        policy_path = self.root / ".chalice" / entry["iam_policy_file"]
        template = policy_path if policy_path.exists() else self.policy_path(POLICY_TEMPLATE_STAGE)
        policy = _read_json(template)
        statements = [s for s in policy.get("Statement", []) if s.get("Sid") == PUBLISH_SID]
        if len(statements) != 1:
            raise ProjectError(f"{template} needs exactly one statement with Sid {PUBLISH_SID!r} to scope to the topic")
        statements[0]["Resource"] = topic_arn
        return config, policy_path, policy


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"{path} does not exist: is this an sg-sentry project directory?") from None
    except json.JSONDecodeError as error:
        raise ProjectError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ProjectError(f"{path} should hold a JSON object")
    return value


def _write_json(files: dict[Path, dict[str, Any]]) -> None:
    """Write every file or none: all are written to temporary files first, then renamed."""
    temporaries = {}
    try:
        for path, value in files.items():
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
            temporaries[path] = temporary
    except OSError:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        raise
    for path, temporary in temporaries.items():
        temporary.replace(path)
