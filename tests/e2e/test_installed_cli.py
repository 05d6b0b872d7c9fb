"""The ``lifecycle`` command installed from a wheel, run outside the repository.

A fresh venv gets only the project's wheel (``--no-deps``); the dependencies come from
this test's own environment through a ``.pth`` line, so nothing is downloaded and the
project itself can only come from the wheel (the editable install's finder lives in a
``.pth`` file of this environment, which a path line does not run).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "PYTHON"))}
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a venv holding the project as a plain (non-editable) wheel."""
    base = tmp_path_factory.mktemp("installed")
    # Built from a copy of what a wheel is made of: a build/ directory left in the checkout
    # by an earlier build could carry files that no longer exist.
    source = base / "source"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name if source.exists() else _mkdir(source) / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("lifecycle", "streams", "campaigns"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    wheels = base / "wheels"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source, cwd=base
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob("lifecycle_worker-*.whl")
    venv = base / "venv"
    created = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=base)
    ours = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    Path(purelib.stdout.strip(), "dependencies.pth").write_text("\n".join(dict.fromkeys(ours)))
    install = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel,
        cwd=base,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return venv / "bin"


def test_validate_outside_the_repository_checks_the_shipped_campaigns(
    installed: Path, tmp_path: Path
) -> None:
    result = _run(installed / "lifecycle", "campaigns", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # From the wheel inside the venv, not from the repository.
    shipped = installed.parent / "lib"
    assert "shipped example campaigns" in result.stderr
    assert f"in {shipped}" in result.stderr, result.stderr
    assert "streams/dev/campaigns" in result.stderr
    repository_campaigns = {p.name for p in (ROOT / "campaigns").glob("*.yaml")}
    assert f"ok: {len(repository_campaigns)} campaigns" in result.stderr


def test_init_copies_the_shipped_campaigns_for_a_marketer(installed: Path, tmp_path: Path) -> None:
    result = _run(installed / "lifecycle", "campaigns", "init", "my-campaigns", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    copied = tmp_path / "my-campaigns"
    expected = sorted(
        p.relative_to(ROOT / "campaigns")
        for p in (ROOT / "campaigns").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert sorted(p.relative_to(copied) for p in copied.rglob("*") if p.is_file()) == expected
    assert "__init__.py" not in {p.name for p in copied.rglob("*")}
    # ./campaigns would now be found first: validate the copy by name, then by default.
    by_name = _run(installed / "lifecycle", "campaigns", "validate", "my-campaigns", cwd=tmp_path)
    assert by_name.returncode == 0, by_name.stderr
    assert "in my-campaigns" in by_name.stderr
    again = _run(installed / "lifecycle", "campaigns", "init", "my-campaigns", cwd=tmp_path)
    assert again.returncode == 2
    assert "not an empty directory" in again.stderr
