"""A small web inbox over the mail sink's directory: the list, and each message's parts.

``GET /`` lists the stored messages (newest first, at most ``limit``); ``GET /m/NAME``
shows one message: its headers, the text part, and the HTML part in an ``<iframe
sandbox srcdoc=...>``. Everything a message holds is escaped before it reaches a page;
the HTML part runs in a sandbox without scripts, forms or same-origin access, and the
pages send a Content-Security-Policy that allows no script at all and loads nothing
from elsewhere. ``GET /m/NAME/html`` and ``/m/NAME/text`` serve the raw parts as files
(``text/plain``, so a browser never renders them as a page of this origin).

Only names of ``.eml`` files directly in the directory are served; anything else is 404.
It reads the directory on each request, so it shows what the sink stored so far.
:meth:`Inbox.stop` returns within about twice ``shutdown_timeout`` (1 s by default),
even while a client holds a request open (a body it never finishes sending, say).
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiohttp import web

from streams.dev.brokers import free_loopback_ports

__all__ = ["Inbox"]

_NAME = re.compile(r"^[A-Za-z0-9._@+=~-]{1,200}\.eml$")
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#2b2b2b;color:#fff;padding:.6rem 1rem}
header a{color:#fff}
table{border-collapse:collapse;width:100%}
td,th{padding:.35rem .8rem;border-bottom:1px solid #ddd;text-align:left;font-size:.9rem}
main{padding:0 1rem 2rem}
pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem;border:1px solid #ddd}
iframe{width:100%;height:32rem;border:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;font-size:.9rem}
dt{font-weight:600}
"""


class Inbox:
    """``async with Inbox(directory) as inbox:`` serves ``inbox.url``."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limit: int = 500,
        shutdown_timeout: float = 1.0,
    ) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self.limit = limit
        #: How long stop() lets a request in progress finish before it cancels the request
        #: (aiohttp's own default is 60 s); aiohttp may spend it twice on one connection:
        #: once waiting for the handler, once for the connection after cancelling it.
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def __aenter__(self) -> Inbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(middlewares=[_security_headers])
        app.router.add_get("/", self._list)
        app.router.add_get("/favicon.ico", _no_icon)
        app.router.add_get("/m/{name}", self._message)
        app.router.add_get("/m/{name}/{part:html|text}", self._part)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        if self.port == 0:
            [self.port] = free_loopback_ports(1)
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _messages(self) -> list[Path]:
        paths = [p for p in self.directory.glob("*.eml") if _NAME.match(p.name)]
        return sorted(paths, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)

    def _load(self, name: str) -> EmailMessage:
        if not _NAME.match(name) or not (self.directory / name).is_file():
            raise web.HTTPNotFound(text="no such message")
        message = message_from_bytes((self.directory / name).read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message

    async def _list(self, request: web.Request) -> web.Response:
        paths = self._messages()
        rows = []
        for path in paths[: self.limit]:
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            kind = "marketing" if message["List-Unsubscribe"] else "service"
            rows.append(
                "<tr>"
                f"<td>{_e(message.get('To', ''))}</td>"
                f'<td><a href="/m/{_e(path.name)}">{_e(message.get("Subject", ""))}</a></td>'
                f"<td>{kind}</td>"
                "</tr>"
            )
        more = (
            f"<p>Showing the newest {self.limit} of {len(paths)}.</p>"
            if len(paths) > self.limit
            else ""
        )
        body = (
            f"<p>{len(paths)} messages in {_e(str(self.directory))}</p>{more}"
            "<table><thead><tr><th>To</th><th>Subject</th><th>Kind</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        return _page("Inbox", body)

    async def _message(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        message = self._load(name)
        headers = "".join(
            f"<dt>{_e(h)}</dt><dd>{_e(message.get(h, ''))}</dd>"
            for h in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe")
            if message.get(h) is not None
        )
        text, markup = _parts(message)
        body = (
            f'<p><a href="/">&larr; inbox</a></p><dl>{headers}</dl>'
            f'<h2>HTML part <small>(<a href="/m/{_e(name)}/html">source</a>)</small></h2>'
            f'<iframe sandbox title="HTML part" srcdoc="{_e(markup)}"></iframe>'
            f'<h2>Text part <small>(<a href="/m/{_e(name)}/text">raw</a>)</small></h2>'
            f"<pre>{_e(text)}</pre>"
        )
        return _page(str(message.get("Subject", name)), body)

    async def _part(self, request: web.Request) -> web.Response:
        text, markup = _parts(self._load(request.match_info["name"]))
        content = markup if request.match_info["part"] == "html" else text
        return web.Response(text=content, content_type="text/plain", charset="utf-8")


def _parts(message: EmailMessage) -> tuple[str, str]:
    def content(kind: str) -> str:
        part = message.get_body((kind,))
        return str(part.get_content()) if isinstance(part, EmailMessage) else ""

    return content("plain"), content("html")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> web.Response:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)} - lifecycle demo</title><style>{_STYLE}</style></head>"
        f'<body><header><a href="/">lifecycle demo inbox</a></header><main>{body}</main>'
        "</body></html>"
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
