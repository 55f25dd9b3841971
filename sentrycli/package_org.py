"""`make package-org`: an organization's central deployment (the org stage) as a CloudFormation template.

    python -m sentrycli.package_org OUT_DIR [--project-dir DIR]

`chalice package` takes one merge template, and the org stage needs two: the
single account's (.chalice/merge-template.json: the topic, bounded retries,
the failure queue) and its own (.chalice/merge-template-org.json: the bus
policy letting the organization's accounts put events, the sweep's queue and
its dead-letter queue, the baseline table, the worker's topic, and a Deny
keeping the functions' AssumeRole inside the organization, which a static
policy file cannot say without the organization's ID). This merges the second
over the first into a temporary file, the way Chalice merges a template over
its own, and runs `chalice package --stage org --merge-template MERGED OUT_DIR`:
OUT_DIR then holds sam.json and deployment.zip (with checked-hash bytecode, as
`make package` builds it: sentrycli/bytecode.py), deployed as docs/deploying.md
shows, with `OrganizationId=o-...` among the parameters.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STAGE = "org"
BASE_TEMPLATE = Path(".chalice") / "merge-template.json"
ORG_OVERLAY = Path(".chalice") / "merge-template-org.json"


def deep_merged(base: Any, overlay: Any) -> Any:
    """`overlay` over `base`: mappings key by key, anything else (lists included) taken from `overlay`.

    The rule of Chalice's TemplateDeepMerger, so that merging the two files
    first gives what merging each in turn over Chalice's template would.
    """
    if isinstance(base, Mapping) and isinstance(overlay, Mapping):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merged(base.get(key), value)
        return merged
    return overlay


def merged_template(project: Path) -> dict[str, Any]:
    base = json.loads((project / BASE_TEMPLATE).read_text())
    overlay = json.loads((project / ORG_OVERLAY).read_text())
    merged: dict[str, Any] = deep_merged(base, overlay)
    return merged


def package_org(project: Path, out: Path, env: Mapping[str, str] | None = None) -> None:
    """Package the org stage of `project` into `out`. Raises `subprocess.CalledProcessError`."""
    # The Chalice of this interpreter's environment, with checked-hash bytecode in the zip, as `make package`.
    chalice = [sys.executable, "-m", "sentrycli.bytecode"]
    with tempfile.TemporaryDirectory(prefix="sg-sentry-org-") as folder:
        merged = Path(folder) / "merge-template.json"
        merged.write_text(json.dumps(merged_template(project), indent=2))
        command = [*chalice, "--project-dir", str(project), "package", "--stage", STAGE]
        subprocess.run(
            [*command, "--merge-template", str(merged), str(out)],
            check=True,
            capture_output=True,
            text=True,
            env=None if env is None else dict(env),
            timeout=300,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sentrycli.package_org", description="Package the org stage with both merge templates."
    )
    parser.add_argument("out", type=Path, help="the folder chalice package writes sam.json and deployment.zip to")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the Chalice project (default: .)")
    args = parser.parse_args(argv)
    try:
        package_org(args.project_dir, args.out)
    except subprocess.CalledProcessError as error:
        print(f"chalice package failed ({error.returncode}):\n{error.stdout}{error.stderr}", file=sys.stderr)
        return 1
    print(f"{args.out / 'sam.json'}: the org stage's template (parameters AlertEmail, OrganizationId, ChatTopicName)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
