"""``/unsubscribe``: GET shows a confirmation page, POST unsubscribes (RFC 8058 one-click).

GET never changes anything, because mail scanners fetch links. POST verifies the sealed
token and produces a ``consent.changed`` event to the worker's own customer-events topic,
keyed by customer id (as delivery does with bounces), so the engine applies it like any
other event of that customer. The event carries the link's issue time
(``link_issued_at``), so a link sent before a later re-subscribe cannot undo it. The
shop's topics are read-only for us. A bad token gets the same 400 page whatever is wrong
with it (forged, truncated, expired).
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime, timedelta
from typing import Any

from faust import web

from lifecycle.events import ConsentChanged, dump_event
from lifecycle.exceptions import UnsubscribeTokenError
from lifecycle.mail import UnsubscribeRequest, open_token
from streams.worker import Worker

__all__ = ["register"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=html.escape(title), body=body)


def register(worker: Worker) -> None:
    settings = worker.settings
    secret = (
        None
        if settings.unsubscribe.secret is None
        else settings.unsubscribe.secret.get_secret_value().encode()
    )
    max_age = timedelta(days=settings.unsubscribe.max_age_days)
    # Normalised events keyed by customer id: the partition that owns the customer's state.
    customer_events = worker.topics.customer_events

    def customer_for(request: Any) -> UnsubscribeRequest | None:
        token = request.query.get("token", "")
        if secret is None or not token:
            return None
        try:
            return open_token(secret, token, datetime.now(UTC), max_age)
        except UnsubscribeTokenError:
            return None

    def invalid(view: web.View) -> Any:
        body = "<p>This unsubscribe link is not valid or has expired.</p>"
        return view.html(_page("Link not valid", body), status=400)

    class Unsubscribe(web.View):
        async def get(self, request: Any) -> Any:
            if customer_for(request) is None:
                return invalid(self)
            token = html.escape(request.query.get("token", ""), quote=True)
            body = (
                "<p>Stop receiving marketing email from us?"
                " Order and account email will still arrive.</p>"
                f'<form method="post" action="/unsubscribe?token={token}">'
                '<button type="submit" name="List-Unsubscribe" value="One-Click">'
                "Unsubscribe</button></form>"
            )
            return self.html(_page("Unsubscribe", body))

        async def post(self, request: Any) -> Any:
            unsubscribe = customer_for(request)
            if unsubscribe is None:
                return invalid(self)
            customer_id = unsubscribe.customer_id
            token = request.query["token"]
            event = ConsentChanged(
                type="consent.changed",
                # One id per link: a second click is a duplicate the engine drops.
                event_id="unsubscribe-" + hashlib.sha256(token.encode()).hexdigest()[:32],
                customer_id=customer_id,
                occurred_at=datetime.now(UTC),
                marketing_consent=False,
                source="unsubscribe_link",
                # The link speaks for when it was sent: a later re-subscribe stands.
                link_issued_at=unsubscribe.issued_at,
            )
            pending = await customer_events.send(key=customer_id.encode(), value=dump_event(event))
            await pending
            worker.metrics.unsubscribes.inc()
            body = "<p>You will not receive marketing email from us any more.</p>"
            return self.html(_page("You are unsubscribed", body))

    worker.app.page("/unsubscribe", name="unsubscribe")(Unsubscribe)
