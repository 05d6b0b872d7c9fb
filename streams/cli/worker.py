"""``lifecycle worker``: run the worker with settings from the environment."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lifecycle.exceptions import LifecycleError

__all__ = [
    "MMAP_THRESHOLD_BYTES",
    "add_parser",
    "fix_mmap_threshold",
    "require_worker_settings",
    "run_worker",
]

#: Allocations at least this large are mapped on their own and returned to the system
#: when freed (glibc's initial threshold is 128 KiB, then it follows the largest block freed).
MMAP_THRESHOLD_BYTES = 256 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


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

    fix_mmap_threshold()
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


def fix_mmap_threshold(environ: Mapping[str, str] = os.environ) -> bool:
    """Keep glibc from holding a backfill's fetch buffers after it ends; True if set.

    The consumer reads each fetch response (up to megabytes) into one buffer on its own
    thread. glibc maps such a block on its own and unmaps it when freed, but then raises
    its threshold to the freed block's size (up to 32 MiB), so the next responses come
    from that thread's heap, which keeps the memory once they are freed: 22-30 MiB of
    free space in the consumer thread's arena after a 20k-customer backfill, measured with
    ``malloc_info``. A fixed threshold turns that adjustment off. Not glibc (musl, macOS),
    or ``MALLOC_MMAP_THRESHOLD_`` set by the operator: left as it is.
    """
    if "MALLOC_MMAP_THRESHOLD_" in environ or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
