"""Read a campaigns directory into the mappings :func:`compile_campaigns` takes.

Layout::

    DIR/*.yaml                         one campaign per file
    DIR/templates/NAME/LOCALE.yaml     one template per name and locale
    DIR/templates/layout/LOCALE.yaml   optional frame around every message

YAML anywhere else under ``DIR`` (``DIR/old/winback.yaml``) would be silently ignored,
so it is an error: a campaign a marketer thinks is live must be live, or say why not.
A directory without a single campaign file is an error too (usually a wrong
``LIFECYCLE_CAMPAIGNS_DIR``).

Keys are the paths as the user would write them (``DIR`` joined with the path inside
it, never resolved to an absolute path), so errors read ``campaigns/winback.yaml:12:5``
and an editor or terminal can jump there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lifecycle.campaigns import CampaignSet, RuntimeContext, compile_campaigns
from lifecycle.exceptions import CampaignError, CampaignErrors

__all__ = ["CampaignFiles", "load_campaign_dir", "read_campaign_dir"]

_SUFFIXES = (".yaml", ".yml")
_MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CampaignFiles:
    sources: dict[str, str]
    templates: dict[str, str]
    #: Files that could not be read (not UTF-8, too large), already as located errors.
    unreadable: tuple[CampaignError, ...] = ()
    #: YAML files in folders that are not read (anything but DIR and DIR/templates).
    misplaced: tuple[CampaignError, ...] = ()


def _shown(path: Path) -> str:
    # ``path`` already starts with the directory as the user gave it.
    return path.as_posix()


def _read(path: Path, shown: str, problems: list[CampaignError]) -> str | None:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            problems.append(CampaignError(shown, 1, 1, "the file is larger than 1 MiB"))
            return None
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(CampaignError(shown, 1, 1, f"not UTF-8 text ({exc.reason}); save as UTF-8"))
    except OSError as exc:
        problems.append(CampaignError(shown, 1, 1, f"cannot read the file: {exc.strerror}"))
    return None


def read_campaign_dir(directory: str | Path) -> CampaignFiles:
    """Read the campaign and template files under ``directory`` (no validation yet)."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such campaigns directory")
    problems: list[CampaignError] = []
    sources: dict[str, str] = {}
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _SUFFIXES):
        text = _read(path, _shown(path), problems)
        if text is not None:
            sources[_shown(path)] = text
    templates: dict[str, str] = {}
    template_root = root / "templates"
    if template_root.is_dir():
        for path in sorted(template_root.rglob("*")):
            if not path.is_file() or path.suffix not in _SUFFIXES:
                continue
            text = _read(path, _shown(path), problems)
            if text is not None:
                templates[_shown(path)] = text
    misplaced = [
        CampaignError(
            _shown(path),
            1,
            1,
            f"this file is not read: campaigns go directly in {_shown(root)}/ and templates "
            f"in {_shown(template_root)}/NAME/LOCALE.yaml; move it there, or out of "
            f"{_shown(root)}/",
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix in _SUFFIXES
        and path.parent != root
        and template_root not in path.parents
    ]
    return CampaignFiles(sources, templates, tuple(problems), tuple(misplaced))


def load_campaign_dir(
    directory: str | Path, *, default_locale: str = "en", context: RuntimeContext | None = None
) -> CampaignSet:
    """Read and compile a campaigns directory.

    Raises :class:`CampaignErrors` (every problem, ``FILE:LINE:COL: message``) when
    anything is invalid: the worker refuses to start on that, with the same messages
    ``lifecycle campaigns validate`` prints.
    """
    files = read_campaign_dir(directory)
    found = [*files.unreadable, *files.misplaced]
    if not files.sources and not files.unreadable:
        shown = _shown(Path(directory))
        found.append(
            CampaignError(
                shown,
                1,
                1,
                f"no campaign files in {shown}/; add one (e.g. {shown}/welcome.yaml), "
                "or point at the right directory",
            )
        )
    try:
        campaigns = compile_campaigns(
            files.sources, files.templates, default_locale=default_locale, context=context
        )
    except CampaignErrors as exc:
        raise CampaignErrors([*found, *exc.errors]) from None
    if found:
        raise CampaignErrors(found)
    return campaigns
