"""Messages per second through one SMTP connection vs a pool of four, side by side.

Run from the repository root::

    python -m benchmarks.smtp_pool [--messages 1000] [--rounds 3]

The server is the test server (tests/support/smtp_server.py: aiosmtpd, plain mode,
parses and keeps every message) running in a child process, so it does not share the
client's event loop. Each round sends the same number of real MIME messages (built by
lifecycle.mail.mime.build_email) with pool size 1 and then 4, all submitted at once; the
pool bounds how many are in flight. Rounds alternate so drift hits both alike; the
median of the rounds is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lifecycle.mail import Mailbox, OutboxMessage, build_email, derive_message_id
from streams.delivery import SmtpSender, SmtpSettings
from tests.support.smtp_server import SmtpTestServer

NOW = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
HTML = "<html><body>" + "<p>Hej Åsa! Här är nyheterna för veckan.</p>" * 60 + "</body></html>"


def serve(pipe: Connection) -> None:
    """Child process: run a plain test server until told to stop, answering 'stats'."""

    async def main() -> None:
        server = SmtpTestServer()
        await server.start()
        pipe.send(server.port)
        while True:
            command = await asyncio.to_thread(pipe.recv)
            if command == "stats":
                pipe.send((len(server.messages), server.connections_opened))
            elif command == "stop":
                await server.stop()
                return

    asyncio.run(main())


def make_messages(count: int, tag: str) -> list[tuple[str, bytes]]:
    messages = []
    for n in range(count):
        outbox = OutboxMessage(
            message_id=derive_message_id(f"c-{n}", "bench", 0, tag),
            customer_id=f"c-{n}",
            campaign_id="bench",
            variant="a",
            step=0,
            category="transactional",
            decided_at=NOW,
            to_address=f"customer{n}@example.net",
            to_name="Åsa Öberg",
            locale="sv-SE",
            subject="Veckans nyheter 🎉",
            preheader="Nytt i butiken",
            text="Hej Åsa!\n" * 40,
            html=HTML,
        )
        raw = build_email(outbox, sender=Mailbox("shop@example.com", "Sklep"), now=NOW)
        messages.append((outbox.to_address, raw))
    return messages


async def measure(port: int, pool_size: int, messages: list[tuple[str, bytes]]) -> float:
    settings = SmtpSettings(
        host="127.0.0.1", port=port, pool_size=pool_size, local_hostname="bench.client"
    )
    async with SmtpSender(settings) as sender:
        # open the pool's connections before the clock starts
        await asyncio.gather(
            *(sender.send("shop@example.com", [to], raw) for to, raw in messages[:pool_size])
        )
        started = time.perf_counter()
        await asyncio.gather(*(sender.send("shop@example.com", [to], raw) for to, raw in messages))
        elapsed = time.perf_counter() - started
    return len(messages) / elapsed


async def run(port: int, count: int, rounds: int) -> dict[int, list[float]]:
    results: dict[int, list[float]] = {1: [], 4: []}
    for round_number in range(rounds):
        for pool_size in (1, 4):
            messages = make_messages(count, f"r{round_number}-p{pool_size}")
            results[pool_size].append(await measure(port, pool_size, messages))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=serve, args=(child_end,), daemon=True)
    child.start()
    try:
        port = parent_end.recv()
        results = asyncio.run(run(port, args.messages, args.rounds))
        parent_end.send("stats")
        received, connections = parent_end.recv()
    finally:
        parent_end.send("stop")
        child.join(timeout=10)

    sent = args.rounds * (2 * args.messages + 1 + 4)  # measured + warm-up sends
    one = statistics.median(results[1])
    four = statistics.median(results[4])
    size = len(make_messages(1, "size")[0][1])
    print(f"message size: {size} bytes; {args.messages} messages x {args.rounds} rounds each")
    print(f"pool size 1: {one:8.1f} msg/s   (rounds: {', '.join(f'{r:.0f}' for r in results[1])})")
    print(f"pool size 4: {four:8.1f} msg/s   (rounds: {', '.join(f'{r:.0f}' for r in results[4])})")
    print(f"ratio pool 4 / pool 1: {four / one:.2f}x")
    print(f"server received {received} of {sent} sent, over {connections} connections")
    if received != sent:
        raise SystemExit("server did not receive every message")


if __name__ == "__main__":
    main()
