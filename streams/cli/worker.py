"""``lifecycle worker``: run the worker with settings from the environment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from lifecycle.exceptions import LifecycleError

__all__ = ["add_parser", "require_worker_settings", "run_worker"]


def add_parser(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "worker", help="run the worker (settings from LIFECYCLE_* environment variables)"
    )
    worker.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from lifecycle.campaigns import locale_gaps
    from streams.campaign_loading import load_campaign_set
    from streams.settings import load_settings
    from streams.topic_admin import ensure_topics

    try:
        settings = load_settings()
        require_worker_settings(settings)
        campaign_set = load_campaign_set(settings)
        # The same warnings as `lifecycle campaigns validate` (a template missing a locale
        # the others have); they do not stop the worker.
        for warning in locale_gaps(campaign_set.templates):
            print(f"lifecycle worker: {warning}", file=sys.stderr)
        topics = asyncio.run(ensure_topics(settings))
        for line in topics.lines(settings.partitions):
            print(f"lifecycle worker: {line}", file=sys.stderr)
    except LifecycleError as exc:
        print(f"lifecycle worker: {exc}", file=sys.stderr)
        return 2
    run_worker(settings, campaign_set)
    return 0


def require_worker_settings(settings: Any) -> None:
    """Settings only the worker needs (replay and validate run without them)."""
    from streams.settings import SettingsError

    problems = []
    secret = settings.unsubscribe.secret
    if secret is None:
        problems.append(
            "LIFECYCLE_UNSUBSCRIBE_SECRET: required to sign unsubscribe links in marketing mail;"
            " make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    elif len(secret.get_secret_value()) < 16:
        problems.append("LIFECYCLE_UNSUBSCRIBE_SECRET: use at least 16 characters")
    if not settings.campaigns_dir.is_dir():
        problems.append(
            f"LIFECYCLE_CAMPAIGNS_DIR: {settings.campaigns_dir} is not a directory; point it at"
            " the folder with your campaign files (the repository's is 'campaigns')"
        )
    if settings.smtp.ca_file is not None:
        problem = _ca_file_problem(settings.smtp.ca_file)
        if problem:
            problems.append(f"LIFECYCLE_SMTP_CA_FILE: {problem}")
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))


def _ca_file_problem(path: Any) -> str | None:
    import ssl

    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        return f"{path} does not exist"
    except (OSError, ssl.SSLError) as exc:
        return f"{path} is not a readable PEM bundle of CA certificates ({exc})"
    return None


def run_worker(settings: Any, campaigns: Any) -> None:
    """Build the Faust app and run it until stopped (SIGTERM/SIGINT)."""
    from faust.worker import Worker as FaustWorker

    from streams.app import build_worker
    from streams.local_state import discard_if_unclean, running
    from streams.logs import logging_config

    worker = build_worker(settings, campaigns)
    secrets = [
        secret.get_secret_value()
        for secret in (settings.unsubscribe.secret, settings.smtp.password)
        if secret is not None
    ]
    logging.captureWarnings(True)  # warnings are log lines too, in the same format
    faust_worker = FaustWorker(
        worker.app,
        loglevel=settings.log_level,
        logging_config=logging_config(
            settings.log_level,
            settings.log_format,
            secrets,
            message_id_domain=settings.message_id_domain,
        ),
        quiet=True,
        override_logging=True,
    )
    tabledir = Path(worker.app.conf.tabledir)
    discard_if_unclean(tabledir)  # before Faust opens the stores (streams/local_state.py)
    with running(tabledir):
        faust_worker.execute_from_commandline()
