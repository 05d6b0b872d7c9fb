"""The demo's worker group: several real worker processes read as one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from streams.cli import main
from streams.dev import WorkerGroup, WorkerProcess
from streams.dev.demo import _numbered


@pytest.mark.parametrize("count", ["0", "5"])
def test_a_worker_count_the_topics_cannot_use_is_refused(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--workers", count]) == 2
    assert "--workers must be 1 to 4" in capsys.readouterr().out


def test_the_first_worker_keeps_the_plain_file_names() -> None:
    assert _numbered("worker.log", 0) == "worker.log"
    assert _numbered("worker.log", 1) == "worker-2.log"
    assert _numbered("worker-data", 2) == "worker-data-3"


_EXPOSITIONS = [
    '# HELP x_total x\nx_total{reason="a"} 2.0\nx_total{reason="b"} 1.0\ny_total 5.0\n',
    'x_total{reason="a"} 4.0\ny_total 0.5\n',
]


#: Per worker, the client port of each /metrics request it served.
Peers = list[list[int]]


async def _serve(text: str, peers: list[int], port: int = 0) -> web.AppRunner:
    async def metrics(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername")[1])
        return web.Response(text=text)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WorkerGroup, Peers, list[web.AppRunner]]]:
    runners, workers, peers = [], [], []
    for n, text in enumerate(_EXPOSITIONS):
        peers.append([])
        runner = await _serve(text, peers[-1])
        runners.append(runner)
        port = runner.addresses[0][1]
        workers.append(WorkerProcess({}, tmp_path / f"w{n}.log", web_port=port))
    group = WorkerGroup(workers)
    yield group, peers, runners
    await group.stop()  # no process to stop: closes the kept scrape connections
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def group(served: tuple[WorkerGroup, Peers, list[web.AppRunner]]) -> WorkerGroup:
    return served[0]


@pytest.mark.asyncio
async def test_the_group_adds_up_each_workers_counters(group: WorkerGroup) -> None:
    totals = await group.totals(frozenset({"x_total", 'x_total{reason="a"}', "y_total", "z"}))
    assert totals == {"x_total": 7.0, 'x_total{reason="a"}': 6.0, "y_total": 5.5, "z": 0.0}
    samples = await group.metrics()
    assert samples['x_total{reason="b"}'] == 1.0
    assert samples["y_total"] == 5.5


def test_a_total_counts_each_sample_once_whatever_else_was_asked_for() -> None:
    from streams.dev.demo import _delivered, _total

    bounced = 'lifecycle_emails_dead_lettered_total{reason="hard_bounce"}'
    # What WorkerGroup.totals returns: each name summed, beside the labelled sample asked for.
    totals = {
        "lifecycle_emails_dead_lettered_total": 5.0,
        bounced: 5.0,
        "lifecycle_outbox_published_total": 10.0,
        "lifecycle_emails_sent_total": 6.0,
    }
    assert _total(totals, "lifecycle_emails_dead_lettered_total") == 5.0
    # 6 sent and 5 refused of 10 published would be "all delivered" if the refusals counted
    # twice; 11 published are not all delivered while one is still on its way.
    assert _delivered(totals)
    assert not _delivered({**totals, "lifecycle_outbox_published_total": 12.0})
    # What WorkerProcess.metrics returns: one key per label set.
    samples = {bounced: 2.0, 'lifecycle_emails_dead_lettered_total{reason="expired"}': 1.0}
    assert _total(samples, "lifecycle_emails_dead_lettered_total") == 3.0


_ASKED = frozenset({"x_total", "y_total"})


@pytest.mark.asyncio
async def test_repeated_totals_keep_one_connection_to_each_worker(
    served: tuple[WorkerGroup, Peers, list[web.AppRunner]],
) -> None:
    group, peers, _ = served
    for _ in range(3):
        assert await group.totals(_ASKED) == {"x_total": 7.0, "y_total": 5.5}
    assert [len(p) for p in peers] == [3, 3]
    assert [len(set(p)) for p in peers] == [1, 1]


@pytest.mark.asyncio
async def test_totals_reads_a_worker_whose_server_restarted_between_calls(
    served: tuple[WorkerGroup, Peers, list[web.AppRunner]],
) -> None:
    group, peers, runners = served
    await group.totals(_ASKED)
    port = runners[0].addresses[0][1]
    await runners[0].cleanup()  # closes the kept connection from the server's side
    runners[0] = await _serve("x_total 10.0\n", peers[0], port)
    assert await group.totals(_ASKED) == {"x_total": 14.0, "y_total": 0.5}
    assert len(set(peers[0])) == 2
