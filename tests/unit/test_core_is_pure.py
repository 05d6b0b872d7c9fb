"""The core (``lifecycle/``) does no I/O and reads no clock: checked on its imports and calls."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "lifecycle"

# Modules whose import alone means I/O, a framework, or the process environment.
FORBIDDEN_MODULES = {
    "faust", "aiokafka", "aiosmtplib", "aiohttp", "aiosmtpd", "socket", "ssl", "subprocess",
    "asyncio", "os", "shutil", "tempfile", "requests", "urllib.request", "http", "smtplib",
    "prometheus_client", "streams", "time", "random",
}  # fmt: skip
# Calls that read the wall clock or touch files even from allowed modules.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "read_text", "write_text", "getenv"}


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def called(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                names.add(func.attr)
            elif isinstance(func, ast.Name):
                names.add(func.id)
    return names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_a_core_module_imports_no_io_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad_imports = {
        name
        for name in imported(tree)
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)
    }
    assert not bad_imports, f"{path.name} imports {sorted(bad_imports)}"
    bad_calls = called(tree) & FORBIDDEN_CALLS
    assert not bad_calls, f"{path.name} calls {sorted(bad_calls)}"


def test_the_check_sees_a_violation() -> None:
    tree = ast.parse("import os\nfrom datetime import datetime\nx = datetime.now()\n")
    assert "os" in imported(tree)
    assert "now" in called(tree)
