"""`make package`: the deployment package ships checked-hash bytecode, and no stale or foreign bytecode is ever used.

One package is built for the module, the way `make package` builds it, from a
copy of the project holding what a local run leaves under chalicelib/
(bytecode of the usual, timestamp kind, and another version's); it is
unzipped into a temporary folder, as Lambda unzips it into /var/task. Each
interpreter started here runs with PYTHONDONTWRITEBYTECODE=1 in a copy of
that folder, so none leaves a cache another could use.
"""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
import zipfile
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localaws.rehearse import project_copy
from sentrycli.bytecode import BytecodeRefused, add_bytecode, check_runtime

ROOT = Path(__file__).resolve().parents[2]
TAG = sys.implementation.cache_tag
# Python 3.12's magic number (3531): a pyc another version wrote.
OTHER_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], Path]]:
    """(the zip, its template, the zip unzipped), built by `make package`'s command."""
    folder = tmp_path_factory.mktemp("package")
    with project_copy() as project:
        # What a local run leaves, and Chalice ships: timestamp bytecode for this version, and 3.12's.
        left = project / "chalicelib" / "__pycache__"
        left.mkdir()
        py_compile.compile(str(project / "chalicelib" / "__init__.py"), cfile=str(left / f"__init__.{TAG}.pyc"))
        (left / "__init__.cpython-312.pyc").write_bytes(OTHER_MAGIC + bytes(12) + b"not code")
        command = [sys.executable, "-m", "sentrycli.bytecode", "--project-dir", str(project), "package"]
        merge = ["--merge-template", str(project / ".chalice" / "merge-template.json")]
        env = dict(os.environ, AWS_DEFAULT_REGION="eu-west-1")
        subprocess.run([*command, "--stage", "dev", *merge, str(folder / "out")], check=True, env=env, timeout=300)
    package = folder / "out" / "deployment.zip"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder / "task")
    yield package, json.loads((folder / "out" / "sam.json").read_text()), folder / "task"


def header(pyc: bytes) -> tuple[bytes, int, bytes]:
    """PEP 552's header: magic number, flags, and (hash-based) the source's hash."""
    return pyc[:4], int.from_bytes(pyc[4:8], "little"), pyc[8:16]


def loaded_from(task: Path, *modules: str) -> tuple[dict[str, str], str]:
    """Import `modules` in a fresh interpreter in `task`: where each code object in the package came from
    (`python -v`), and the name app.py gave its Chalice app (which app.py ran)."""
    code = "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)\n"
    code += "import app; print(app.app.app_name)"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    child = subprocess.run(
        [sys.executable, "-v", "-c", code, *modules], cwd=task, env=env, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr[-3000:]
    origins = {}
    for line in child.stderr.splitlines():
        if line.startswith("# code object from "):
            where = line.removeprefix("# code object from ").strip("'")
            if where.startswith(str(task)):
                origins[str(Path(where).relative_to(task))] = "pyc" if where.endswith(".pyc") else "source"
    return origins, child.stdout.strip()


def module_names(task: Path) -> list[str]:
    names = [".".join(path.relative_to(task).with_suffix("").parts) for path in sorted(task.rglob("*.py"))]
    return [name.removesuffix(".__init__") for name in names]


def copied(task: Path, tmp_path: Path) -> Path:
    """A copy of the unzipped package, for a test to change."""
    shutil.copytree(task, tmp_path / "task")
    return tmp_path / "task"


def test_make_package_and_make_deploy_run_chalice_through_the_bytecode_step() -> None:
    recipes = (ROOT / "Makefile").read_text()
    assert "$(BIN)/python -m sentrycli.bytecode package --stage $(STAGE) " in recipes  # as the fixture builds
    assert "$(BIN)/python -m sentrycli.bytecode deploy --stage $(STAGE)" in recipes


def test_every_module_in_the_package_has_checked_hash_bytecode_of_its_source_for_the_runtime(
    built: tuple[Path, dict[str, Any], Path],
) -> None:
    package, template, _ = built
    runtimes = {
        resource["Properties"]["Runtime"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # Chalice's runtime, in the template, is the version whose bytecode was compiled.
    assert runtimes == {f"python{sys.version_info.major}.{sys.version_info.minor}"}
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        # app.py, Chalice's runtime and the whole library, each compiled.
        assert {"app.py", "chalice/app.py", "chalice/__init__.py", "chalicelib/usecases/handle_event.py"} <= set(
            sources
        )
        expected = {}
        for source in sources:
            folder, _, name = source.rpartition("/")
            expected[f"{folder}/__pycache__/{name[:-3]}.{TAG}.pyc".lstrip("/")] = source
        # Exactly those: the local run's timestamp bytecode and 3.12's were dropped.
        assert {name for name in names if name.endswith(".pyc")} == set(expected)
        for pyc, source in expected.items():
            magic, flags, digest = header(archive.read(pyc))
            assert magic == importlib.util.MAGIC_NUMBER, pyc
            assert flags == 0b11, pyc  # hash-based, and checked against the source
            assert digest == importlib.util.source_hash(archive.read(source)), pyc


def test_a_fresh_interpreter_in_the_package_loads_every_module_from_its_bytecode(
    built: tuple[Path, dict[str, Any], Path], tmp_path: Path
) -> None:
    _, _, task = built
    task = copied(task, tmp_path)
    names = module_names(task)
    origins, printed = loaded_from(task, *names)
    assert printed == "sg-sentry"
    sources = sorted(str(path.relative_to(task)) for path in task.rglob("*.py"))
    assert len(sources) == len(names) > 50
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(source))
        assert origins.get(str(pyc)) == "pyc", source
    assert "source" not in origins.values(), origins


def test_a_source_changed_after_the_build_runs_and_its_stale_bytecode_is_not_used(
    built: tuple[Path, dict[str, Any], Path], tmp_path: Path
) -> None:
    _, _, task = built
    task = copied(task, tmp_path)
    app, pyc = task / "app.py", Path(importlib.util.cache_from_source(str(task / "app.py")))
    stale, before = pyc.read_bytes(), app.stat()
    # The same length, and the same modification time: only the source's hash tells the two apart.
    app.write_text(app.read_text().replace('app_name="sg-sentry"', 'app_name="sg-sentrx"'))
    os.utime(app, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert app.stat().st_size == before.st_size
    origins, printed = loaded_from(task, "app")
    assert printed == "sg-sentrx" and origins["app.py"] == "source" and f"__pycache__/app.{TAG}.pyc" not in origins
    assert origins[f"chalicelib/__pycache__/__init__.{TAG}.pyc"] == "pyc"  # the rest still from bytecode
    assert pyc.read_bytes() == stale  # and nothing was rewritten
    # The control: bytecode of the usual kind, checked by time and size, would have run the old app.py.
    app.write_text(app.read_text().replace('"sg-sentrx"', '"sg-sentry"'))
    compiled = app.stat()
    py_compile.compile(str(app), cfile=str(pyc), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    app.write_text(app.read_text().replace('"sg-sentry"', '"sg-sentrx"'))
    os.utime(app, ns=(compiled.st_atime_ns, compiled.st_mtime_ns))
    origins, printed = loaded_from(task, "app")
    assert printed == "sg-sentry" and origins[f"__pycache__/app.{TAG}.pyc"] == "pyc"


def test_bytecode_of_another_python_version_is_never_used(
    built: tuple[Path, dict[str, Any], Path], tmp_path: Path
) -> None:
    _, _, task = built
    task = copied(task, tmp_path)
    pyc = Path(importlib.util.cache_from_source(str(task / "app.py")))
    impostor = bytearray(pyc.read_bytes())
    # 3.12's bytecode under this version's name (its magic number), and under its own name (its cache tag).
    impostor[:4] = OTHER_MAGIC
    pyc.write_bytes(bytes(impostor))
    pyc.with_name("app.cpython-312.pyc").write_bytes(bytes(impostor))
    origins, printed = loaded_from(task, "app")
    assert printed == "sg-sentry" and origins["app.py"] == "source"
    assert all(not where.endswith("cpython-312.pyc") for where in origins)
    # And the build refuses to compile for a runtime other than this interpreter's, leaving the zip as it was.
    package = tmp_path / "deployment.zip"
    shutil.copy(built[0], package)
    before = package.read_bytes()
    with pytest.raises(BytecodeRefused, match=rf"runtime is python3\.12 \(cpython-312 bytecode\).*{TAG}"):
        add_bytecode(package, "python3.12")
    assert package.read_bytes() == before
    with pytest.raises(BytecodeRefused, match="not a Python runtime"):
        check_runtime("nodejs22.x")


def test_the_build_is_refused_before_chalice_runs_when_its_runtime_is_not_this_interpreters(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sentrycli import bytecode

    # Chalice takes the runtime from sys.version_info: as if this interpreter said 3.12 while compiling for 3.13.
    version = namedtuple("version", "major minor micro releaselevel serial")
    monkeypatch.setattr(sys, "version_info", version(3, 12, 0, "final", 0))
    assert bytecode.main(["--project-dir", str(ROOT), "package", str(tmp_path / "out")]) == 1
    assert "refused: the package's runtime is python3.12 (cpython-312 bytecode), but this is Python" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists() and bytecode.BytecodePackager.built == []
