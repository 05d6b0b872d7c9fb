"""The layout's rules, checked on the source: front doors, no import circles, one-way arrows.

* Code outside a subpackage imports only from its front door (its ``__init__``); inside a
  subpackage, modules import their siblings directly and never their own front door.
* No import circles between modules, counting imports under ``TYPE_CHECKING`` and inside
  functions: a circle hidden from the interpreter still ties the modules together.
* ``streams`` depends on ``lifecycle``, never the other way round; the core imports no
  faust, aiokafka, aiosmtplib or sockets (see test_core_is_pure.py for I/O and clocks).
* ``streams.dev`` (demo, traffic, mail sink, brokers) is never imported by the worker.
* No folder holds more than 15 modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lifecycle", "streams")
MAX_MODULES_PER_FOLDER = 15


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


SOURCES = _sources()


def _is_package(name: str) -> bool:
    return SOURCES.get(name, Path()).name == "__init__.py"


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every ``from ... import`` and ``import`` of our packages."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in PACKAGES:
                yield node.lineno, node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield node.lineno, alias.name, []


def _targets(module: str, names: list[str]) -> set[str]:
    """The modules an import statement loads: the module, or the submodules it names."""
    found = {module} if module in SOURCES else set()
    if _is_package(module):
        submodules = {f"{module}.{name}" for name in names} & SOURCES.keys()
        if submodules and len(submodules) == len(names):
            return submodules  # ``from package import submodule``: the package is already on
        found |= submodules
    return found


def _package_of(module: str) -> str:
    return module if _is_package(module) else module.rpartition(".")[0]


def _front_door(importer: str, target: str) -> str:
    """Where ``importer`` may import ``target``'s names from."""
    importer_package = _package_of(importer).split(".")
    parts = target.split(".")
    common = 0
    while (
        common < len(parts) - 1
        and common < len(importer_package)
        and parts[common] == importer_package[common]
    ):
        common += 1
    if common == len(parts) - 1:
        return target  # a module of the importer's own package or of one above it
    return ".".join(parts[: max(common + 1, 2)])


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in SOURCES}
    for name, path in SOURCES.items():
        for _, module, names in _imports(path):
            graph[name] |= _targets(module, names) - {name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_there_are_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_code_outside_a_subpackage_imports_only_its_front_door() -> None:
    wrong = []
    for name, path in SOURCES.items():
        for line, module, names in _imports(path):
            for target in _targets(module, names):
                if _is_package(target) and target != module:
                    continue  # ``from package import submodule`` of one's own package
                allowed = _front_door(name, target)
                if module != allowed and not (module == target and allowed == target):
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: {module} (use {allowed})")
                if _is_package(module) and _package_of(name).startswith(module):
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: own front door {module}")
    assert wrong == []


def test_streams_depends_on_lifecycle_never_the_other_way() -> None:
    back = [
        f"{name} imports {module}"
        for name, path in SOURCES.items()
        if name.startswith("lifecycle")
        for _, module, _ in _imports(path)
        if module.startswith("streams")
    ]
    assert back == []


def test_only_the_demo_command_imports_the_dev_area() -> None:
    users = sorted(
        name
        for name, path in SOURCES.items()
        if not name.startswith("streams.dev")
        for _, module, _ in _imports(path)
        if module.startswith("streams.dev")
    )
    assert users == ["streams.cli.demo"]


def test_the_worker_does_not_load_the_dev_area() -> None:
    code = (
        "import sys\n"
        "import streams.app, streams.cli\n"
        "from streams.cli import build_parser\n"
        "build_parser()\n"
        "dev = [m for m in sys.modules if m.startswith('streams.dev') or m == 'aiosmtpd']\n"
        "loaded = sorted(dev)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("package", PACKAGES)
def test_no_folder_holds_more_than_fifteen_modules(package: str) -> None:
    crowded = {}
    for folder in [ROOT / package, *(p for p in (ROOT / package).rglob("*") if p.is_dir())]:
        modules = [p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
        if len(modules) > MAX_MODULES_PER_FOLDER:
            crowded[str(folder.relative_to(ROOT))] = len(modules)
    assert crowded == {}
