"""The one rule for settings in every `sentry` command that reads them: the stage's, with the command's flags over them.

A command runs with the settings the deployed functions run with: the
stage's `environment_variables` in .chalice/config.json (as Chalice merges
them for that function). A flag (`--dry-run`, `--member-role`) always wins
over the stage. A sentry setting in the shell (`SENTRY_DRY_RUN=true`) is
refused, never applied and never silently dropped: applied, it would make
the CLI judge differently from the deployed function; dropped, it would make
someone who meant "only look" revert for real.

A dry run here changes nothing and publishes nothing, whether the flag or
the stage asked for it: it prints what the message would say instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.config import KNOWN, Settings
from sentrycli.project import Project

# What a dry run here says, once, after what it would have done.
DRY_RUN = "dry run: nothing changed, nothing published"
# Where a dry run here would publish: every topic the stage names, emails and chat alike.
TOPICS = ("SENTRY_TOPIC_ARN", "SENTRY_CHAT_TOPIC_ARN")
# SENTRY_* names that are this project's own tooling (the test suite's), never a setting: not refused.
TOOLING = frozenset({"SENTRY_SUITE_RECORD", "SENTRY_FUZZ_EXAMPLES", "SENTRY_FUZZ_RANDOM"})


class ShellSettings(ValueError):
    """The shell sets sentry settings, which no command reads: the message names each, and what to do instead."""


@dataclass(frozen=True)
class StageSettings:
    """What a command runs with: the stage's variables, the flags applied, and the settings they make."""

    env: dict[str, str]
    settings: Settings

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run


def refuse_shell_settings(project: Project, flags: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> None:
    """Raise `ShellSettings` if the shell sets any sentry setting; `flags` maps a setting to the command's flag."""
    # Every SENTRY_* name, not only the known ones: a misspelt SENTRY_DRYRUN=true, dropped, would revert for real.
    found = sorted(name for name in environ if name.startswith("SENTRY_") and name not in TOOLING)
    if not found:
        return
    names = ", ".join(name if name in KNOWN else f"{name} (not a setting of sg-sentry: a typo?)" for name in found)
    said = f"{names} {'is' if len(found) == 1 else 'are'} set in your shell"
    instead = [f"pass {flags[name]} instead of {name}" for name in found if name in flags]
    rest = [name for name in found if name not in flags and name in KNOWN]
    if rest:
        instead.append(f"set {', '.join(rest)} in the stage's environment_variables")
    then = f", and {'; '.join(instead)}" if instead else ""
    raise ShellSettings(
        f"{said}; sentry commands take settings only from the stage ({project.config_path}) and their flags: "
        f"unset {' '.join(found)}{then}"
    )


def stage_settings(
    project: Project, stage: str, function: str, *, dry_run: bool = False, member_role: str | None = None
) -> StageSettings:
    """The stage's settings for `function`, with the flags over them. Raises `ProjectError` or `ConfigError`."""
    env = project.environment(stage, function)
    # This project's baseline file (the stage's, or chalicelib/baseline.json), not the one beside wherever
    # chalicelib was imported from: with --project-dir the two differ, and every command must read the same one.
    # A stage naming a file that is not there is refused (by Settings). A project without the default file
    # falls back to the one beside the imported chalicelib: none in a checkout (the file is not committed) unless
    # `sentry snapshot` wrote one there.
    baseline = project.baseline_path(stage)
    if "SENTRY_BASELINE_FILE" in env or baseline.is_file():
        env["SENTRY_BASELINE_FILE"] = str(baseline)
    if dry_run:
        env["SENTRY_DRY_RUN"] = "true"
    if member_role:
        env["SENTRY_MEMBER_ROLE"] = member_role
    if Settings.from_env(env).dry_run:  # and a bad setting is refused here, naming each
        for topic in TOPICS:
            env.pop(topic, None)
    return StageSettings(env, Settings.from_env(env))
