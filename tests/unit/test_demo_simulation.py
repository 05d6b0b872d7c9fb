"""The demo's shop simulator, response model, progress line and inbox page, without a broker."""

from __future__ import annotations

import io
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from lifecycle.events import parse_event
from lifecycle.mail import OutboxMessage, build_email
from lifecycle.mail.mime import Mailbox, UnsubscribeLinks
from streams.dev.inbox import Inbox
from streams.dev.progress import Progress
from streams.dev.responses import ResponseModel, Responses
from streams.dev.shop import BEHAVIOURS, LOCALES, Shop

START = datetime(2026, 3, 2, tzinfo=UTC)


def _all_events(shop: Shop) -> list[list[dict[str, object]]]:
    return [[p.event for p in shop.slot(k)] for k in range(shop.slots)]


def test_the_shop_is_the_same_for_a_seed_and_differs_for_another() -> None:
    first = _all_events(Shop(START, 200, 60, seed=3, slot_days=3))
    again = _all_events(Shop(START, 200, 60, seed=3, slot_days=3))
    other = _all_events(Shop(START, 200, 60, seed=4, slot_days=3))
    assert first == again
    assert first != other


def test_a_customer_plans_the_same_whatever_the_shop_size() -> None:
    small = Shop(START, 10, 60, seed=3)
    large = Shop(START, 300, 60, seed=3)
    assert small.customers["c-00007"] == large.customers["c-00007"]


def test_every_event_is_valid_in_order_and_one_per_customer_per_slot() -> None:
    shop = Shop(START, 400, 90, seed=5, slot_days=3)
    seen_types: Counter[str] = Counter()
    for slot in range(shop.slots):
        events = shop.slot(slot)
        customers = [p.event["customer_id"] for p in events]
        assert len(customers) == len(set(customers))
        times = [parse_event(_json(p.event)).occurred_at for p in events]
        assert times == sorted(times)
        low, high = shop.day_start(slot * 3), shop.slot_end(slot)
        assert all(low <= t < high for t in times)
        seen_types.update(str(p.event["type"]) for p in events)
    assert seen_types["customer.signed_up"] == 400
    for kind in ("order.placed", "customer.logged_in", "support.ticket_resolved", "survey.nps"):
        assert seen_types[kind] > 0, kind


def test_every_behaviour_locale_and_several_time_zones_appear() -> None:
    shop = Shop(START, 1000, 120)
    assert {c.behaviour for c in shop} == {name for name, _ in BEHAVIOURS}
    languages = {c.locale[:2] for c in shop}
    assert languages == {"en", "sv", "pl", "nb", "fi"}
    assert len({c.timezone for c in shop}) == len(LOCALES)


def test_a_response_is_planned_after_the_slots_already_handed_out() -> None:
    shop = Shop(START, 50, 60, slot_days=3)
    for slot in range(4):
        shop.slot(slot)
    customer = shop.customers["c-00001"]
    early = shop.day_start(2)  # inside a slot already produced
    assert shop.respond_with_order(customer, early, random.Random(1))
    planned = [p for k in range(4, shop.slots) for p in shop.slot(k) if p.key == "c-00001-r1"]
    [order] = planned
    assert datetime.fromisoformat(str(order.event["occurred_at"])) >= shop.slot_end(3)


def _email(shop: Shop, customer_id: str, *, marketing: bool, text: str) -> bytes:
    customer = shop.customers[customer_id]
    message = OutboxMessage(
        message_id=f"<{customer_id}-{len(text)}@demo.invalid>",
        customer_id=customer_id,
        campaign_id="winback",
        variant="discount",
        step=1,
        category="marketing" if marketing else "transactional",
        decided_at=START,
        to_address=customer.email,
        locale="en",
        subject="Hello",
        text=text,
        html="<p>hi</p>",
    )
    return build_email(
        message,
        sender=Mailbox("shop@demo.invalid"),
        now=START,
        unsubscribe=UnsubscribeLinks("https://demo.invalid/u") if marketing else None,
    )


def _lapsed(shop: Shop) -> str:
    return next(c.id for c in shop if c.behaviour == "declining")


def test_an_offer_persuades_more_lapsed_customers_than_a_reminder_and_service_mail_none(
    tmp_path: Path,
) -> None:
    def rate(text: str, *, marketing: bool = True, trials: int = 300) -> float:
        caused = 0
        for n in range(trials):
            shop = Shop(START, 40, 120, slot_days=3)
            customer = _lapsed(shop)
            shop.customers[customer].stopped_at = START
            path = tmp_path / f"m{n}.eml"
            path.write_bytes(_email(shop, customer, marketing=marketing, text=f"{text} {n}"))
            responses = Responses(shop, frozenset({"COMEBACK15"}), seed=n)
            caused += responses.read_emails([path], START + timedelta(days=10))
        return caused / trials

    model = ResponseModel()
    offer, reminder = rate("Your code COMEBACK15"), rate("We miss you")
    assert rate("Your order", marketing=False) == 0
    assert reminder == pytest.approx(model.open_rate * model.comeback, abs=0.09)
    assert offer == pytest.approx(model.open_rate * (model.comeback + model.offer_bonus), abs=0.09)
    assert offer > reminder


def test_progress_writes_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(20, stream=stream, every=10)
    for step in range(20):
        progress.update(step, date(2026, 3, 2 + step), events=1000, emails=50, dead=3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "2026-03-21" in lines[-1]
    assert "20/20" in lines[-1]
    assert "50 emails sent" in lines[-1]
    assert "3 dead letters" in lines[-1]
    assert "\r" not in stream.getvalue()


@pytest.mark.asyncio(loop_scope="function")
async def test_the_inbox_escapes_what_a_message_holds(tmp_path: Path) -> None:
    shop = Shop(START, 5, 30)
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    (tmp_path / "a.eml").write_bytes(_email(shop, "c-00001", marketing=True, text=hostile))
    (tmp_path / "notes.txt").write_text("not a message")
    async with Inbox(tmp_path) as inbox, aiohttp.ClientSession() as http:
        async with http.get(inbox.url) as listing:
            page = await listing.text()
            assert "script-src" not in listing.headers["Content-Security-Policy"]
            assert "default-src 'none'" in listing.headers["Content-Security-Policy"]
        assert "1 messages in" in page
        assert 'href="/m/a.eml"' in page
        async with http.get(f"{inbox.url}m/a.eml") as message:
            shown = await message.text()
        assert "<script>" not in shown
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
        assert "<iframe sandbox" in shown
        async with http.get(f"{inbox.url}m/a.eml/text") as part:
            assert part.content_type == "text/plain"
            assert hostile in await part.text()
        for missing in ("m/notes.txt", "m/..%2Fa.eml", "m/nothing.eml"):
            async with http.get(f"{inbox.url}{missing}") as response:
                assert response.status == 404, missing


def _json(event: dict[str, object]) -> bytes:
    import json

    return json.dumps(event).encode()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_bar_in_place_on_a_terminal() -> None:
    stream = _Terminal()
    progress = Progress(4, stream=stream)
    for step in range(4):
        progress._drawn = 0.0  # each update is drawn, however fast the test runs
        progress.update(step, date(2026, 3, 2 + step), events=10, emails=2, dead=0)
    written = stream.getvalue()
    assert written.count("\r") == 4
    assert written.count("\n") == 1
    assert written.endswith("\n")
    assert "[" + "#" * 24 + "]" in written
    assert "2026-03-05" in written
