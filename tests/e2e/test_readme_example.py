"""The README's "Testing your own handlers locally" example runs as written, so it cannot rot."""

from __future__ import annotations

import os
import re
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Testing your own handlers locally"


def readme_example() -> str:
    """The first Python code block under the section's heading in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(HEADING + "\n")
    end = text.find("\n## ", start + len(HEADING))
    section = text[start : end if end != -1 else len(text)]
    found = re.search(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert found, f"no ```python block under {HEADING!r} in README.md"
    return found.group(1)


def test_the_example_uses_only_what_a_chalice_user_has() -> None:
    code = readme_example()
    # It goes through app.py and Chalice's test client only: chalicelib's modules are moving (issue 12).
    assert "chalicelib" not in code
    assert "from chalice.test import Client" in code
    assert 'client.lambda_.invoke("on_security_group_change"' in code
    assert 'client.lambda_.invoke("sweep"' in code
    assert "assert " in code


def test_the_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Run from the project directory, as a reader would: Client(app, stage_name="dev") reads .chalice/config.json.
    monkeypatch.chdir(ROOT)
    with mock.patch.dict(os.environ):  # whatever the example sets is undone afterwards
        exec(compile(readme_example(), str(ROOT / "README.md"), "exec"), {"__name__": "readme_example"})
