"""The email writer against the stdlib's container, side by side in one run.

    .venv/bin/python -m benchmarks.mime [--messages 2000]

``lifecycle.mail.mime.build_email`` writes the SMTP bytes itself. Before, it put the
same header values into an ``email.message.EmailMessage`` (``set_content`` for the two
quoted-printable parts, ``make_alternative``, ``as_bytes``); this benchmark builds that
container around the same header values, for realistic marketing messages, and prints
microseconds per message for both and the ratio. It also checks that both parse back to
the same text and HTML.
"""

from __future__ import annotations

import argparse
import email
import hashlib
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

from lifecycle.mail import OutboxMessage, derive_message_id
from lifecycle.mail.mime import Mailbox, UnsubscribeLinks, build_email

_POLICY = policy.SMTP.clone(refold_source="none")
SENDER = Mailbox("hello@shop.example", "Demo Shop")
LINKS = UnsubscribeLinks(url="https://shop.example/unsubscribe?token=" + "A" * 60)
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def messages(count: int) -> list[OutboxMessage]:
    paragraph = "We have not seen you for a while, Åsa: here is 15 % off your next order. "
    return [
        OutboxMessage(
            message_id=derive_message_id(f"c-{n}", "winback", 0, f"e-{n}"),
            customer_id=f"c-{n}",
            campaign_id="winback",
            variant="discount",
            step=0,
            category="marketing",
            decided_at=NOW,
            to_address=f"c-{n}@customers.example",
            to_name=f"Åsa Öberg {n}",
            locale="sv-SE",
            subject="Vi saknar dig, Åsa",
            preheader="15 % rabatt",
            text=(paragraph * 3 + "\n\n") * 5,
            html="<html><body>" + f"<p>{paragraph}</p>" * 15 + "</body></html>",
        )
        for n in range(count)
    ]


def parts_of(raw: bytes) -> tuple[list[tuple[str, str]], dict[str, str], str]:
    """The header lines (but Content-Type), the two bodies and the Message-ID of ``raw``."""
    parsed = email.message_from_bytes(raw, policy=policy.default)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    headers = []
    for line in head.replace("\r\n ", " ").split("\r\n"):
        name, _, value = line.partition(": ")
        if name != "Content-Type":
            headers.append((name, value))
    bodies = {}
    for subtype in ("plain", "html"):
        body = parsed.get_body((subtype,))
        assert isinstance(body, EmailMessage)
        bodies[subtype] = body.get_content()
    return headers, bodies, str(parsed["Message-ID"])


def stdlib_container(
    headers: list[tuple[str, str]], bodies: dict[str, str], message_id: str
) -> bytes:
    """The same headers and parts, put together by the stdlib as the writer used to."""
    msg = EmailMessage(policy=_POLICY)
    for name, value in headers:
        msg.set_raw(name, value)
    msg.make_alternative()
    for subtype in ("plain", "html"):
        part = EmailMessage(policy=_POLICY)
        part.set_content(bodies[subtype], subtype=subtype, charset="utf-8", cte="quoted-printable")
        del part["MIME-Version"]
        msg.attach(part)
    msg.set_boundary("==" + hashlib.sha256(message_id.encode()).hexdigest()[:32] + "==")
    return msg.as_bytes()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    outbox = messages(args.messages)
    written = [build_email(m, sender=SENDER, now=NOW, unsubscribe=LINKS) for m in outbox]
    inputs = [parts_of(raw) for raw in written]
    for a, b in zip(written[:20], (stdlib_container(*i) for i in inputs[:20]), strict=True):
        pa, pb = (email.message_from_bytes(x, policy=policy.default) for x in (a, b))
        for subtype in ("plain", "html"):
            left, right = pa.get_body((subtype,)), pb.get_body((subtype,))
            assert isinstance(left, EmailMessage)
            assert isinstance(right, EmailMessage)
            assert left.get_content() == right.get_content()
    # The stdlib side is timed on its container only: its header values are ours.
    started = time.perf_counter()
    for headers, bodies, message_id in inputs:
        stdlib_container(headers, bodies, message_id)
    stdlib_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for m in outbox:
        build_email(m, sender=SENDER, now=NOW, unsubscribe=LINKS)
    writer_seconds = time.perf_counter() - started
    per = 1e6 / args.messages
    print(f"messages: {args.messages}, {sum(map(len, written)) // args.messages} bytes each")
    print(f"stdlib EmailMessage container: {stdlib_seconds * per:,.0f} us per message")
    print(f"build_email (writes the bytes): {writer_seconds * per:,.0f} us per message")
    print(f"ratio stdlib / build_email: {stdlib_seconds / writer_seconds:.1f}")


if __name__ == "__main__":
    main()
