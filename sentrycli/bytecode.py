"""`make package`, `make deploy`: Chalice's deployment package, with bytecode Python checks against the source.

    python -m sentrycli.bytecode [--project-dir DIR] package|deploy ARGS...   (what `chalice` takes)

Lambda unzips the package into a read-only /var/task, where Python cannot
cache bytecode: without any in the zip, every cold start compiles app.py,
chalicelib/ and Chalice's runtime (chalice/app.py, which Chalice's packager
adds) from source. This runs Chalice's own CLI in this process with one step
added to its deployment packager: once Chalice has built the zip it is about
to upload or package (or reused it from its cache, .chalice/deployments/),
every .py in it gets its bytecode beside it, compiled as `python -m compileall
--invalidation-mode checked-hash` compiles it (PEP 552), in __pycache__/ under
the runtime's cache tag. Any other bytecode Chalice copied (a local run's
__pycache__ under chalicelib/) is dropped.

Python uses such a file only while the source's hash is the one it records,
and only for the version whose cache tag it is named by and whose magic
number it carries; otherwise it compiles the source, as it does today.
Chalice takes the Lambda runtime from the Python it runs under (this one):
the step refuses a runtime whose bytecode this interpreter does not write.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import posixpath
import py_compile
import re
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from chalice.deploy import deployer
from chalice.deploy.packager import LambdaDeploymentPackager

# PEP 552's flags: bit 0, the pyc is hash-based; bit 1, Python checks the hash against the source.
CHECKED_HASH = 0b11
# The folder Lambda unzips the package into: the name the code objects carry (importing corrects it anyway).
TASK_ROOT = "/var/task"
RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")


class BytecodeRefused(RuntimeError):
    """The bytecode this interpreter writes is not the runtime's, or a zip's bytecode is not what it must be."""


def cache_tag(runtime: str) -> str:
    """The cache tag CPython of a Lambda runtime names its bytecode with: python3.13 -> cpython-313."""
    matched = RUNTIME.match(runtime)
    if matched is None:
        raise BytecodeRefused(f"{runtime!r} is not a Python runtime (python3.N)")
    return f"cpython-{matched[1]}{matched[2]}"


def check_runtime(runtime: str) -> str:
    """The cache tag of `runtime`, if this interpreter writes the bytecode that runtime reads; refuse otherwise."""
    tag = cache_tag(runtime)
    mine = sys.implementation.cache_tag
    if tag != mine or sys.version_info.releaselevel != "final":
        raise BytecodeRefused(
            f"the package's runtime is {runtime} ({tag} bytecode), but this is Python {sys.version.split()[0]} "
            f"({mine}{'' if sys.version_info.releaselevel == 'final' else ', a pre-release'}): "
            f"build with a released CPython {runtime.removeprefix('python')}, the runtime's"
        )
    return tag


def cached(source: str, tag: str) -> str:
    """Where the bytecode of `source` (a path in the zip) goes: dir/__pycache__/name.TAG.pyc."""
    folder, name = posixpath.split(source)
    return posixpath.join(folder, "__pycache__", f"{name.removesuffix('.py')}.{tag}.pyc")


def is_bytecode(name: str) -> bool:
    return name.endswith((".pyc", ".pyo")) or "__pycache__" in name.split("/")


def problems(package: Path, runtime: str) -> list[str]:
    """What is wrong with the bytecode in the zip `package` for `runtime`: nothing when every .py has its
    checked-hash pyc of this source, for the runtime's tag and magic number, and no other bytecode is there."""
    tag = cache_tag(runtime)
    found: list[str] = []
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        expected = {cached(name, tag): name for name in names if name.endswith(".py")}
        strays = {name for name in names if is_bytecode(name)} - set(expected)
        found += [f"{name}: not the bytecode of a source here" for name in sorted(strays)]
        for pyc, source in sorted(expected.items()):
            if pyc not in names:
                found.append(f"{source}: no {pyc}")
                continue
            header = archive.read(pyc)[:16]
            if header[:4] != importlib.util.MAGIC_NUMBER:
                found.append(f"{pyc}: magic number {header[:4].hex()}, not {importlib.util.MAGIC_NUMBER.hex()}")
            elif int.from_bytes(header[4:8], "little") != CHECKED_HASH:
                found.append(f"{pyc}: not a checked-hash pyc (flags {int.from_bytes(header[4:8], 'little')})")
            elif header[8:16] != importlib.util.source_hash(archive.read(source)):
                found.append(f"{pyc}: compiled from another version of {source}")
    return sorted(found)


def add_bytecode(package: Path, runtime: str) -> int:
    """Put checked-hash bytecode for `runtime` beside every .py in the zip `package`, in place; return how many.

    Refuses (`BytecodeRefused`, the zip unchanged) a runtime this interpreter does not write bytecode for.
    """
    tag = check_runtime(runtime)
    with zipfile.ZipFile(package) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist() if not is_bytecode(info.filename)]
    sources = [info for info, _ in entries if info.filename.endswith(".py")]
    if not problems(package, runtime):
        return len(sources)  # Chalice reused a zip this step already finished
    with tempfile.TemporaryDirectory(prefix="sg-sentry-bytecode-") as folder:
        tree = Path(folder)
        for info, data in entries:
            if info.filename.endswith(".py"):
                (tree / info.filename).parent.mkdir(parents=True, exist_ok=True)
                (tree / info.filename).write_bytes(data)
        compiled = compileall.compile_dir(
            tree, quiet=1, ddir=TASK_ROOT, optimize=0, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
        if not compiled:
            raise BytecodeRefused(f"compileall could not compile every .py in {package}")
        partial = package.with_name(package.name + ".bytecode.tmp")
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
                for info, data in entries:
                    out.writestr(info, data)
                    if info.filename.endswith(".py"):
                        pyc = zipfile.ZipInfo(cached(info.filename, tag), date_time=info.date_time)
                        pyc.compress_type, pyc.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
                        out.writestr(pyc, (tree / cached(info.filename, tag)).read_bytes())
            wrong = problems(partial, runtime)
            if wrong:
                raise BytecodeRefused(f"{package}: " + "; ".join(wrong))
            os.replace(partial, package)
        finally:
            partial.unlink(missing_ok=True)
    return len(sources)


class BytecodePackager(LambdaDeploymentPackager):
    """Chalice's packager, and then the bytecode: for `chalice package` and `chalice deploy` alike."""

    built: ClassVar[list[str]] = []  # every zip it finished, in this process

    def create_deployment_package(self, project_dir: str, python_version: str) -> str:
        filename = super().create_deployment_package(project_dir, python_version)
        count = add_bytecode(Path(filename), python_version)
        self._ui.write(f"Checked-hash bytecode ({sys.implementation.cache_tag}) for {count} modules.\n")
        BytecodePackager.built.append(filename)
        return filename


def main(argv: Sequence[str] | None = None) -> int:
    """Chalice's CLI with `argv`, every deployment package it builds carrying its bytecode."""
    from chalice import cli
    from chalice.config import Config

    args = list(sys.argv[1:] if argv is None else argv)
    try:  # Chalice's choice, as it makes it: the runtime of the Python it runs under
        check_runtime(Config().lambda_python_version)
    except BytecodeRefused as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    deployer.LambdaDeploymentPackager = BytecodePackager  # type: ignore[attr-defined]
    sys.argv = ["chalice", *args]
    try:
        code = cli.main()
    except SystemExit as done:  # click ends the command this way
        code = done.code if isinstance(done.code, int) else 1
    building = {"package", "deploy"} & set(args) and not {"--help", "-h"} & set(args)
    if code == 0 and building and not BytecodePackager.built:
        print("refused: Chalice built no deployment package through the bytecode step", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
