"""The folder layout is the architecture: which way imports go, checked on the source itself.

chalicelib/domain      values and pure decisions: imports only the domain (never boto3 or botocore)
chalicelib/cloudtrail  the raw event into domain values: imports only the domain
chalicelib/reports     the email and the JSON: imports only the domain
chalicelib/adapters    boto3 and the outside world, behind the domain's ports: imports the domain
chalicelib/usecases    the ways in, one pipeline: may import all of the above
app.py, sentrycli/     the entry points: nothing in chalicelib imports them

Every import counts, those inside functions and under TYPE_CHECKING too:
a lazy import is still a dependency, and a cycle through one is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "chalicelib"
LAYERS = ("domain", "cloudtrail", "reports", "adapters", "usecases")
# What each layer may import, besides itself.
ALLOWED = {
    "domain": set(),
    "cloudtrail": {"domain"},
    "reports": {"domain"},
    "adapters": {"domain"},
    "usecases": {"domain", "cloudtrail", "reports", "adapters"},
}
# Only adapters talk to AWS.
AWS_PACKAGES = ("boto3", "botocore")
ENTRY_POINTS = ("app", "sentrycli")


def imports_of(source: str, module: str) -> set[str]:
    """Every module `source` imports, by absolute name (relative imports resolved against `module`)."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            # `from chalicelib.adapters import aws` imports the module chalicelib.adapters.aws.
            found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
    return found


def library_imports(root: Path = LIBRARY) -> dict[str, set[str]]:
    """Each module of chalicelib and what it imports."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = imports_of(path.read_text(encoding="utf-8"), name if parts[-1] != "__init__" else f"{name}.x")
    return modules


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "chalicelib" and parts[1] in LAYERS else None


def violations(modules: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import that goes the wrong way, in words."""
    found = []
    for module, imported in sorted(modules.items()):
        layer = layer_of(module)
        for name in sorted(imported):
            top = name.split(".")[0]
            target = layer_of(name)
            if top in ENTRY_POINTS:
                found.append(f"{module} imports the entry point {name}")
            elif top in AWS_PACKAGES and layer != "adapters":
                found.append(f"{module} imports {name}: only adapters talk to AWS")
            elif layer is not None and target is not None and target != layer and target not in ALLOWED[layer]:
                found.append(f"{module} ({layer}) imports {name} ({target})")
    return found


def cycles(modules: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Import cycles among the modules (each found once, from its first module in order)."""
    graph = {
        module: sorted(name for name in imported if name in modules and name != module)
        for module, imported in modules.items()
    }
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for name in graph[module]:
            visit(name, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


def test_every_module_lives_in_a_layer() -> None:
    modules = library_imports()
    loose = [m for m in modules if m != "chalicelib" and layer_of(m) is None and m.count(".") >= 1]
    assert loose == [], "a module outside domain/cloudtrail/reports/adapters/usecases"
    assert {layer_of(m) for m in modules} >= set(LAYERS)


def test_imports_go_one_way() -> None:
    assert violations(library_imports()) == []


def test_there_is_no_import_cycle() -> None:
    assert cycles(library_imports()) == []


def test_the_domain_never_sees_boto3_even_when_imported() -> None:
    # The source check above, confirmed at run time: importing the whole domain loads no AWS package.
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, chalicelib.domain as d, chalicelib.cloudtrail as c, chalicelib.reports as r\n"
        "for package in (d, c, r):\n"
        "    for info in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{info.name}')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("modules", "complaint"),
    [
        ({"chalicelib.domain.policy": {"chalicelib.adapters.ec2"}}, "(domain) imports chalicelib.adapters.ec2"),
        ({"chalicelib.domain.policy": {"botocore.exceptions"}}, "only adapters talk to AWS"),
        ({"chalicelib.reports.text": {"chalicelib.usecases.pipeline"}}, "(reports) imports"),
        ({"chalicelib.cloudtrail.records": {"chalicelib.reports.fit"}}, "(cloudtrail) imports"),
        ({"chalicelib.adapters.ec2": {"chalicelib.usecases.remedy"}}, "(adapters) imports"),
        ({"chalicelib.usecases.sweep": {"app"}}, "imports the entry point app"),
        ({"chalicelib.domain.rules": {"sentrycli.main"}}, "imports the entry point sentrycli.main"),
    ],
    ids=["domain-adapter", "domain-botocore", "report-usecase", "parser-report", "adapter-usecase", "app", "cli"],
)
def test_a_wrong_way_import_is_caught(modules: dict[str, set[str]], complaint: str) -> None:
    (found,) = violations(modules)
    assert complaint in found


def test_a_cycle_is_caught_even_through_a_lazy_import() -> None:
    source = "def later():\n    from chalicelib.usecases.b import x\n"
    modules = {
        "chalicelib.usecases.a": imports_of(source, "chalicelib.usecases.a"),
        "chalicelib.usecases.b": {"chalicelib.usecases.a"},
    }
    assert cycles(modules) == [["chalicelib.usecases.a", "chalicelib.usecases.b", "chalicelib.usecases.a"]]
