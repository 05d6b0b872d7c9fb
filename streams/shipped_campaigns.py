"""The example campaigns that ship with the package, and how a command picks its directory.

The repository keeps them at the top level, in ``campaigns/``, where marketers and
engineers edit them. A wheel carries that directory as ``streams/dev/campaigns`` (the
mapping is in ``setup.py``; no copy is committed), so :func:`shipped_campaigns_dir` looks
there first and then, for an editable install or a checkout, at the repository's own
``campaigns/`` next to the ``streams`` package.

:func:`choose_campaigns_dir` is the rule ``lifecycle demo``, ``replay`` and ``campaigns
validate`` share: a directory given on the command line or in ``LIFECYCLE_CAMPAIGNS_DIR``
is used as given (and an error if missing); otherwise ``./campaigns`` if it exists, else
the shipped set. The worker never falls back: a deployment runs the campaigns it was
given, not examples.
"""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "campaigns_dir_for",
    "choose_campaigns_dir",
    "copy_shipped_campaigns",
    "shipped_campaigns_dir",
]

_PROJECT_NAME = 'name = "lifecycle-worker"'


def shipped_campaigns_dir() -> Path | None:
    """The shipped campaigns directory on disk, or None when this install has none."""
    package = Path(str(importlib.resources.files("streams")))
    installed = package / "dev" / "campaigns"
    if any(installed.glob("*.yaml")):
        return installed
    checkout = package.parent
    pyproject = checkout / "pyproject.toml"
    source = checkout / "campaigns"
    # A campaigns/ beside some other project's site-packages is not ours.
    ours = pyproject.is_file() and _PROJECT_NAME in pyproject.read_text(encoding="utf-8")
    if ours and any(source.glob("*.yaml")):
        return source
    return None


def choose_campaigns_dir(given: Path | None, *, configured: Path | None) -> tuple[Path, bool]:
    """``(directory, shipped)``: ``given`` (command line) first, then ``configured``
    (``LIFECYCLE_CAMPAIGNS_DIR`` when set), then ``./campaigns``, then the shipped set.

    ``shipped`` says the fallback was taken, so the command can say so. With no shipped
    set either, ``./campaigns`` comes back and loading it reports the missing directory.
    """
    if given is not None:
        return given, False
    if configured is not None:
        return configured, False
    local = Path("campaigns")
    if local.is_dir():
        return local, False
    shipped = shipped_campaigns_dir()
    return (local, False) if shipped is None else (shipped, True)


def campaigns_dir_for(settings: Settings, given: Path | None) -> tuple[Path, bool]:
    """:func:`choose_campaigns_dir` with ``LIFECYCLE_CAMPAIGNS_DIR`` counted only when set."""
    configured = settings.campaigns_dir if "campaigns_dir" in settings.model_fields_set else None
    return choose_campaigns_dir(given, configured=configured)


def copy_shipped_campaigns(target: Path) -> list[Path]:
    """Copy the shipped campaigns and templates into ``target`` (created; must be empty
    or absent, so nothing a marketer wrote is overwritten). Returns the files written."""
    source = shipped_campaigns_dir()
    if source is None:
        raise FileNotFoundError("this installation has no shipped campaigns to copy")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} exists and is not an empty directory")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py")
    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
    return sorted(p for p in target.rglob("*") if p.is_file())
