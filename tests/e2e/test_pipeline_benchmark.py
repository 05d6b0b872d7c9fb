"""``python -m benchmarks.pipeline --small`` keeps working: it runs on the session broker and
prints every figure. It asserts no speed (speed is the benchmark's to print, not a test's)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from streams.dev.brokers.base import Broker

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"


@pytest.mark.asyncio
async def test_small_run_prints_every_figure(kafka_broker: Broker) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "KAFKA_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.pipeline",
        "--small",
        "--store",
        "both",
        "--broker",
        "external",
        "--bootstrap",
        kafka_broker.bootstrap_servers,
        cwd=ROOT,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 600)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    out, err = stdout.decode(), stderr.decode()
    assert process.returncode == 0, out[-3000:] + err[-3000:]
    for part in (
        "a. aiokafka consume + decode",
        "b. naive Faust app",
        "c. lifecycle worker (memory store)",
        "c. lifecycle worker (rocksdb store)",
    ):
        assert re.search(rf"^{re.escape(part)}.*? {NUMBER} +{NUMBER} +{NUMBER} MiB$", out, re.M), (
            out
        )
    for store in ("memory", "rocksdb"):
        assert re.search(rf"^ratio c/a \({store} store\): {NUMBER}$", out, re.M), out
        assert re.search(rf"^ratio c/b \({store} store\): {NUMBER}$", out, re.M), out
    sizes = re.search(rf"state bytes per customer: median ({NUMBER}), p95 ({NUMBER})", out)
    assert sizes, out
    assert 0 < float(sizes[1]) <= float(sizes[2])
    assert re.search(r"\b200 states\b", out), out  # one state per customer (--small: 200)
    assert re.search(rf"RSS per customer: -?{NUMBER} bytes", out), out
    latency = re.search(
        rf"p50 ({NUMBER}) ms, p99 ({NUMBER}) ms, max ({NUMBER}) ms over ({NUMBER}) emails;"
        rf" ({NUMBER}) of ({NUMBER}) expected emails arrived",
        out,
    )
    assert latency, out
    assert float(latency[1].replace(",", "")) <= float(latency[2].replace(",", "")), out
    assert int(latency[6].replace(",", "")) > 0, out  # signups were measured
    assert re.search(rf"^scale ratio two/one: {NUMBER}$", out, re.M), out
    assert re.search(r"^duplicate sends with two workers: 0 ", out, re.M), out
    assert re.search(r"processed per worker: [0-9,]+ / [0-9,]+\)", out), out
    assert re.search(rf"^tick over 10,000 customers, 10 due \(0.1%\): {NUMBER} ms", out, re.M), out
    assert re.search(
        rf"^due index filled from 10,000 states \(.*\): {NUMBER} s, {NUMBER} us per state$",
        out,
        re.M,
    ), out
