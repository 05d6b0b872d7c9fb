"""On-disk tables survive a clean stop and are discarded after an unclean one."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.local_state import MARK, discard_if_unclean, running


def tables(tabledir: Path) -> Path:
    store = tabledir / "customer-state-0.db"
    store.mkdir(parents=True)
    (store / "000001.sst").write_bytes(b"x")
    return store


def run_then(tabledir: Path, stop: BaseException) -> None:
    with running(tabledir):
        assert (tabledir / MARK).exists()
        raise stop


def test_a_clean_stop_keeps_the_tables(tmp_path: Path) -> None:
    store = tables(tmp_path)
    with pytest.raises(SystemExit):
        run_then(tmp_path, SystemExit(0))
    assert not (tmp_path / MARK).exists()
    assert discard_if_unclean(tmp_path) is False
    assert store.exists()


@pytest.mark.parametrize("stop", [SystemExit(1), RuntimeError("crashed")])
def test_a_failed_stop_leaves_the_mark_and_the_next_start_discards_the_tables(
    tmp_path: Path, stop: BaseException
) -> None:
    store = tables(tmp_path)
    with pytest.raises(type(stop)):
        run_then(tmp_path, stop)
    assert (tmp_path / MARK).exists()
    assert discard_if_unclean(tmp_path) is True
    assert not store.exists()
    assert discard_if_unclean(tmp_path) is True  # until a clean stop removes the mark
    with running(tmp_path):
        pass
    assert discard_if_unclean(tmp_path) is False


def test_a_killed_worker_leaves_the_mark(tmp_path: Path) -> None:
    store = tables(tmp_path)
    marking = running(tmp_path)
    marking.__enter__()  # and never leaves: SIGKILL runs no code
    assert discard_if_unclean(tmp_path) is True
    assert not store.exists()


def test_a_first_start_has_nothing_to_discard(tmp_path: Path) -> None:
    assert discard_if_unclean(tmp_path / "new") is False
