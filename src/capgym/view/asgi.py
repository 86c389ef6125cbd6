"""The explorer over HTTP: a Starlette app on uvicorn, with its guarantees and limits.

Guarantees: only GET and HEAD; a request naming another host is refused (403, DNS
rebinding); no file is served from a request's path (the page is built in memory);
every response carries :data:`SECURITY_HEADERS`.  Limits
(:class:`Limits`): a long listen backlog, a cap on open connections (uvicorn answers 503
beyond it), on header and query-string size (431, 414), no request bodies (413), and at
most ``heavy`` queries running at once, each waiting at most ``queue_s`` for its turn
(then a clean 503 with ``Retry-After``), so memory grows with ``heavy``, not with the
number of clients.

>>> Limits().heavy >= 1
True
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from capgym.errors import UsageError

if TYPE_CHECKING:
    from capgym.view.server import Explorer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
JSON = "application/json; charset=utf-8"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
}


@dataclass(frozen=True)
class Limits:
    """How much load the explorer accepts before answering 503 (or 413/414/431)."""

    heavy: int = 4  # queries running at once (each holds a DuckDB cursor and its rows)
    queue_s: float = 60.0  # longest wait for a query slot before a 503
    connections: int = 512  # open connections; uvicorn answers 503 beyond
    backlog: int = 2048  # connections the kernel queues before accept
    query_bytes: int = 4096  # longest query string
    header_bytes: int = 16 * 1024  # largest request head

    def __post_init__(self) -> None:
        if min(self.heavy, self.connections, self.backlog, self.query_bytes) < 1 or not (
            self.queue_s > 0
        ):
            raise UsageError("explorer limits must be positive")


def _json(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": error}), status, headers=headers, media_type=JSON)


class Guard:
    """ASGI middleware: Host check, method, size limits and security headers."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: set[str] | None, limits: Limits, headers: dict[str, str]
    ):
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.limits = limits
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        if scope["method"] not in ("GET", "HEAD"):
            return _json(405, "read-only: only GET and HEAD", {"Allow": "GET, HEAD"})
        head = {k.lower(): v for k, v in scope["headers"]}
        host = head.get(b"host", b"").decode("latin-1").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return _json(403, "unexpected Host header")
        if head.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in head:
            return _json(413, "requests carry no body")
        if len(scope.get("query_string", b"")) > self.limits.query_bytes:
            return _json(414, f"query string over {self.limits.query_bytes} bytes")
        return None


async def _acquire(slots: asyncio.Semaphore, timeout: float) -> bool:
    """Take a slot within ``timeout`` seconds; False if none came free (never leaks one)."""
    task = asyncio.ensure_future(slots.acquire())
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if done:
        return True
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return False
    return True  # acquired while being cancelled: keep it


def build_app(
    explorer: Explorer, allowed_hosts: set[str] | None, limits: Limits | None = None
) -> ASGIApp:
    """The explorer as an ASGI app (serve it with any ASGI server, or :class:`ExplorerServer`)."""
    limits = limits or Limits()
    slots: list[asyncio.Semaphore] = []  # made on first use, inside the server's event loop

    async def page(request: Request) -> Response:
        status, ctype, body = explorer.handle(request.url.path, "")
        return Response(body, status, media_type=ctype)

    async def api(request: Request) -> Response:
        path = request.url.path
        if path not in explorer.routes:
            return _json(404, f"no such page {path!r}")
        if not slots:
            slots.append(asyncio.Semaphore(limits.heavy))
        if not await _acquire(slots[0], limits.queue_s):
            return _json(503, "the explorer is busy; retry", {"Retry-After": "5"})
        try:
            query = request.scope.get("query_string", b"").decode("latin-1")
            status, ctype, body = await run_in_threadpool(explorer.handle, path, query)
        finally:
            slots[0].release()
        return Response(body, status, media_type=ctype)

    async def not_found(request: Request, exc: Exception) -> Response:
        code = int(getattr(exc, "status_code", 404))
        return _json(code, f"no such page {request.url.path!r}" if code == 404 else "refused")

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/favicon.ico", page, methods=["GET"]),
        Route("/api/{name:str}", api, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return Guard(app, allowed_hosts, limits, SECURITY_HEADERS)


def listen(host: str, port: int, backlog: int = Limits.backlog) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line :class:`UsageError` saying why not."""
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is out of range; choose --port between 0 and 65535")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"cannot resolve --host {host!r} ({e}); use 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another --port"
        ) from None
    return sock


class ExplorerServer:
    """A bound explorer: serve it with :meth:`serve_forever` or :meth:`start_thread`.

    The socket listens from construction on, so clients may connect at once.
    """

    def __init__(
        self,
        explorer: Explorer,
        host: str,
        port: int,
        limits: Limits | None = None,
        sock: socket.socket | None = None,
    ):
        self.explorer = explorer
        self.limits = limits or Limits()
        self.socket = sock or listen(host, port, self.limits.backlog)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        real_port = self.server_address[1]
        wildcard = host in ("0.0.0.0", "::", "")
        names = {host, "localhost", "127.0.0.1", "[::1]", f"[{host}]"}
        allowed = None if wildcard else {f"{n}:{real_port}" for n in names} | names
        config = uvicorn.Config(
            build_app(explorer, allowed, self.limits),
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            backlog=self.limits.backlog,
            limit_concurrency=self.limits.connections,
            h11_max_incomplete_event_size=self.limits.header_bytes,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve until SIGINT/SIGTERM (main thread) or :meth:`shutdown`."""
        self.server.run(sockets=[self.socket])

    def start_thread(self) -> None:
        """Serve from a daemon thread (signals stay with the caller)."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop serving and wait for the serving thread to end."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join()

    def server_close(self) -> None:
        """Close the socket and the explorer's database."""
        self.socket.close()
        self.explorer.close()
