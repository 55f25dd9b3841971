"""The approved baseline as a file that deploys with the app: `chalicelib/baseline.json` by default.

Read once per warm container (and again only if the file changes); written
atomically by `sentry snapshot`. The document's format is the domain's
(`chalicelib.domain.baseline`); this module only reads and writes the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from chalicelib.domain.allowances import Allowance
from chalicelib.domain.baseline import ApprovedGroup, Baseline, BaselineError
from chalicelib.domain.config import DEFAULT_BASELINE_PATH as DEFAULT_PATH

_cache: dict[Path, tuple[tuple[int, int], Baseline]] = {}


def load(path: Path = DEFAULT_PATH) -> Baseline:
    """The baseline at `path`; none at all (an empty baseline) when the file does not exist.

    Read once per warm container, and again only if the file changes.
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Baseline()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"{path}: cannot read it: {error}") from error
    try:
        baseline = Baseline.from_document(document)
    except BaselineError as error:
        raise BaselineError(f"{path}: {error}") from None
    _cache[path] = (stamp, baseline)
    return baseline


def save(baseline: Baseline, path: Path = DEFAULT_PATH) -> None:
    """Write the baseline atomically: a crash never leaves half a file to deploy."""
    text = json.dumps(baseline.to_document(), indent=2, ensure_ascii=False) + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".baseline-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


class FileBaselines:
    """The file as the baseline store: it holds the deployment's own account only (`SENTRY_BASELINE_FILE`)."""

    def __init__(self, path: Path, home_account: Callable[[], str]) -> None:
        self._path = path
        self._home = home_account

    def group(self, account: str | None, region: str, group_id: str) -> ApprovedGroup | None:
        return load(self._path).for_group(group_id, region) if self._holds(account) else None

    def region(self, account: str | None, region: str) -> Baseline:
        return load(self._path).in_region(region) if self._holds(account) else Baseline()

    def allowances(self, account: str | None, region: str, group_id: str) -> tuple[Allowance, ...]:
        """The group's exceptions: in the file already read, so no call at all."""
        if not self._holds(account):
            return ()
        return tuple(a for a in load(self._path).allowances if a.group_id == group_id and a.region == region)

    def _holds(self, account: str | None) -> bool:
        return account is None or account == self._home()
