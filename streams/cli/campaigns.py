"""``lifecycle campaigns validate [DIR]``, ``campaigns init DIR`` and ``campaigns schema``.

Wired into ``streams/cli/command.py`` with :func:`add_parser` and :func:`run`.

``validate`` prints one ``FILE:LINE:COL: message`` line per problem on stdout (the
format editors and CI problem matchers understand), a summary on stderr, and exits 1
when there is any problem, 2 when the directory does not exist or a setting is bad,
0 when all is well. Without ``DIR`` (and without ``LIFECYCLE_CAMPAIGNS_DIR``) it checks
``./campaigns``, or the shipped example campaigns when there is none
(:mod:`streams.shipped_campaigns`). ``init DIR`` copies the shipped campaigns and
templates into ``DIR`` (absent or empty) for a marketer to start from. Warnings
(``FILE:1:1: warning: ...``, a template missing a locale other templates have) are
printed with the errors but do not fail validation.

It reads the worker's ``LIFECYCLE_*`` settings and loads the set exactly as the worker
does (:func:`streams.campaign_loading.load_campaign_set`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from lifecycle.campaigns import campaign_json_schema, locale_gaps, template_json_schema
from lifecycle.exceptions import CampaignErrors
from streams.campaign_loading import load_campaign_set
from streams.settings import SettingsError, load_settings
from streams.shipped_campaigns import campaigns_dir_for, copy_shipped_campaigns

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``campaigns`` (with ``validate`` and ``schema``) to a CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "campaigns", help="validate campaigns, print the campaign file JSON Schema"
    )
    commands = parser.add_subparsers(dest="campaigns_command", required=True)
    validate = commands.add_parser(
        "validate", help="check every campaign and template; exit 1 on any error"
    )
    validate.add_argument(
        "directory",
        nargs="?",
        metavar="DIR",
        type=Path,
        help="the campaigns directory (default: LIFECYCLE_CAMPAIGNS_DIR, else ./campaigns, "
        "else the shipped examples)",
    )
    validate.add_argument(
        "--default-locale",
        help="the locale every template must have, and the last fallback "
        "(default: LIFECYCLE_CAMPAIGN__DEFAULT_LOCALE, else en)",
    )
    init = commands.add_parser(
        "init", help="copy the shipped example campaigns and templates into DIR to start from"
    )
    init.add_argument("target", metavar="DIR", type=Path, help="a new or empty directory")
    schema = commands.add_parser("schema", help="print the JSON Schema of campaign files")
    schema.add_argument(
        "--templates", action="store_true", help="print the template file schema instead"
    )
    parser.set_defaults(run=run)  # streams.cli calls args.run(args)
    return parser


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.campaigns_command == "schema":
        schema = template_json_schema() if args.templates else campaign_json_schema()
        out.write(json.dumps(schema, indent=2, sort_keys=False) + "\n")
        return 0
    if args.campaigns_command == "init":
        return _init(args.target, out, err)
    try:
        # The worker's own settings (spend tiers, default locale); worker-only ones
        # such as the unsubscribe secret are optional here, as they are in Settings.
        settings = load_settings()
    except SettingsError as exc:
        err.write(f"lifecycle campaigns validate: {exc}\n")
        return 2
    directory, shipped = campaigns_dir_for(settings, args.directory)
    if shipped:
        err.write(f"no ./campaigns here: validating the shipped example campaigns in {directory}\n")
    try:
        campaigns = load_campaign_set(
            settings, directory=directory, default_locale=args.default_locale
        )
    except FileNotFoundError as exc:
        err.write(f"{exc}\n")
        return 2
    except CampaignErrors as exc:
        for error in exc.errors:
            out.write(f"{error}\n")
        files = len({e.file for e in exc.errors})
        noun = "error" if len(exc.errors) == 1 else "errors"
        err.write(f"{len(exc.errors)} {noun} in {files} file{'s' if files != 1 else ''}\n")
        return 1
    templates = campaigns.templates
    warnings = locale_gaps(templates)
    for warning in warnings:
        out.write(f"{warning}\n")
    locales = ", ".join(templates.locales()) or "none"
    noted = f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
    err.write(
        f"ok: {len(campaigns)} campaigns, {len(templates.names())} templates "
        f"(locales: {locales}) in {directory}{noted}\n"
    )
    return 0


def _init(target: Path, out: TextIO, err: TextIO) -> int:
    try:
        written = copy_shipped_campaigns(target)
    except (FileExistsError, FileNotFoundError) as exc:
        err.write(f"lifecycle campaigns init: {exc}\n")
        return 2
    campaigns = [p for p in written if p.parent == target and p.suffix in (".yaml", ".yml")]
    out.write(
        f"wrote {len(campaigns)} campaigns and {len(written) - len(campaigns)} template files"
        f" to {target}\n"
        f"check them with: lifecycle campaigns validate {target}\n"
        f"run the worker on them with: LIFECYCLE_CAMPAIGNS_DIR={target} lifecycle worker\n"
    )
    return 0
