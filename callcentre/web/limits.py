"""HTTP connection limits: what aiohttp's server does not bound by itself.

aiohttp closes a keep-alive connection that stays idle (``keepalive_timeout``, which the
composition root sets from ``http_idle_timeout``; it also ends a next request whose head
never completes), and bounds a request line and header fields (``max_line_size``,
``max_field_size``). It does not bound how many connections are open, nor how long a *new*
connection may take to send its first request head; a hundred sockets sending a header
byte now and then (slowloris) or a thousand idle ones would hold the server's file
descriptors. ``ConnectionGuard`` wraps aiohttp's protocol factory:

* a new connection must complete its first request head within ``header_timeout``
  (else 408 and closed);
* at most ``max_connections`` are open; a connection beyond it takes the place of the
  one idle longest (no request in progress for ``idle_grace`` seconds), so idle or slow
  sockets can never keep a real request out; when none is idle, it is answered 503
  (read its request first, so the client sees the answer, not a reset);
* a request's body must arrive within ``body_timeout`` of its head (else 408 and closed),
  so a client that trickles a body cannot hold a connection "busy" and out of eviction;
* what it closes or refuses is counted and logged at most once a minute.

``fd_budget`` keeps ``max_connections`` below the process's file-descriptor limit, so the
event loop never runs out of them while accepting (asyncio then logs an error a second).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from callcentre.domain.ratelimit import LogBudget
from callcentre.web.errors import Handler, error_response

log = logging.getLogger("callcentre.web")

# file descriptors kept for everything but HTTP connections: the database, AMI, log
# files, the lingering 503s and the accept bursts (one listen backlog each; a second burst
# can come before the connections evicted for the first have closed, when the event loop
# was busy meanwhile: seen once with 256 while the standards of 400 days were warmed)
FD_RESERVE = 384
BACKLOG = 128
MAX_LINGERING = 64  # 503s that wait (up to 1 s) for their request before answering


def _response(status: str, error: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": error, "message": message, "details": {}}).encode()
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n")
    return head.encode() + body


BUSY = _response("503 Service Unavailable", "busy",
                 "too many connections are busy; try again shortly", "Retry-After: 1\r\n")
TOO_SLOW = _response("408 Request Timeout", "request_timeout",
                     "the request head did not arrive in time")


@dataclass
class ConnectionStats:
    open: int = 0
    refused: int = 0  # answered 503: at the cap and none idle
    closed: dict[str, int] = field(default_factory=lambda: {"header_timeout": 0,
                                                             "body_timeout": 0,
                                                             "idle_evicted": 0})


class ConnectionGuard:
    """Counts and bounds connections around an asyncio protocol factory (see module doc)."""

    def __init__(self, max_connections: int, header_timeout: float, idle_grace: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 body_timeout: float = 10.0) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_grace = idle_grace
        self.stats = ConnectionStats()
        self._now = monotonic
        self._conns: OrderedDict[_Guarded, None] = OrderedDict()  # least recently active first
        self._by_transport: dict[asyncio.BaseTransport, _Guarded] = {}
        self._lingering = 0
        self._budget = LogBudget(60.0)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to give ``loop.create_server``."""

        def guarded() -> asyncio.Protocol:
            if len(self._conns) >= self.max_connections and not self._evict_idle():
                self.stats.refused += 1
                self._say("refused", "HTTP: %d connections answered 503: %d open, none idle",
                          self.stats.refused, len(self._conns))
                linger = self._lingering < MAX_LINGERING
                self._lingering += linger
                return _Busy(self, linger)
            conn = _Guarded(self, factory())
            # counted now, not at connection_made: asyncio accepts a backlog's worth of
            # sockets before the first of them is made
            self._conns[conn] = None
            self.stats.open = len(self._conns)
            return conn

        return guarded

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Marks the connection busy while a request is handled (streams included)."""
        conn = self._by_transport.get(request.transport) if request.transport else None
        if conn is None:
            return await handler(request)
        conn.in_flight += 1
        try:
            if request.can_read_body:
                refused = await self._read_body(request)
                if refused is not None:
                    return refused
            return await handler(request)
        finally:
            conn.in_flight -= 1
            self.touch(conn)

    async def _read_body(self, request: web.Request) -> web.Response | None:
        """Read the body now, within ``body_timeout`` (aiohttp keeps it for the handler)."""
        try:
            await asyncio.wait_for(request.read(), self.body_timeout)
        except TimeoutError:
            self._closing_request(request, "body_timeout")
            response = error_response(408, "request_timeout",
                                      "the request body did not arrive in time")
            response.force_close()
            return response
        except web.HTTPException as exc:  # too large: answered as web/errors.py would
            return error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                                  exc.text or exc.reason)
        return None

    def _closing_request(self, request: web.Request, why: str) -> None:
        self.stats.closed[why] += 1
        peer = request.remote or "?"
        self._say(why, "HTTP: %d connections closed (%s; the latest from %s); %d open",
                  self.stats.closed[why], why.replace("_", " "), peer, len(self._conns))

    def touch(self, conn: _Guarded) -> None:
        if conn in self._conns:
            conn.last_active = self._now()
            self._conns.move_to_end(conn)

    def _evict_idle(self) -> bool:
        now = self._now()
        for conn in self._conns:
            if conn.in_flight == 0 and now - conn.last_active >= self.idle_grace:
                self._forget(conn)
                self._closing(conn, "idle_evicted")
                conn.close()
                return True
        return False

    def _closing(self, conn: _Guarded, why: str) -> None:
        self.stats.closed[why] += 1
        self._say(why, "HTTP: %d connections closed (%s); %d open", self.stats.closed[why],
                  why.replace("_", " "), len(self._conns))

    def _say(self, key: str, message: str, *args: object) -> None:
        if self._budget.allow(key, self._now()) is not None:
            log.warning(message, *args)

    def _opened(self, conn: _Guarded) -> None:
        if conn.transport is not None and conn in self._conns:
            self._by_transport[conn.transport] = conn

    def _forget(self, conn: _Guarded) -> None:
        self._conns.pop(conn, None)
        if conn.transport is not None:
            self._by_transport.pop(conn.transport, None)
        self.stats.open = len(self._conns)

    def _linger_done(self, lingered: bool) -> None:
        self._lingering -= lingered


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted and timed (delegates everything)."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self.transport: asyncio.Transport | None = None
        self.in_flight = 0
        self.last_active = guard._now()
        self._tail = b""
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._guard._opened(self)
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(self._guard.header_timeout, self._head_too_slow)
        self._inner.connection_made(transport)
        if self not in self._guard._conns:  # made room for another while being accepted
            transport.close()

    def data_received(self, data: bytes) -> None:
        self._guard.touch(self)
        if self._head_timer is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._head_timer.cancel()
                self._head_timer = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._guard._forget(self)
        self._inner.connection_lost(exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._head_timer = None
        self._guard._forget(self)
        self._guard._closing(self, "header_timeout")
        if self.transport is not None:
            self.transport.write(TOO_SLOW)
            self.transport.close()


class _Busy(asyncio.Protocol):
    """At the cap with none idle: read the request (or wait up to 1 s), answer 503, close."""

    def __init__(self, guard: ConnectionGuard, linger: bool) -> None:
        self._guard = guard
        self._linger = linger
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._linger:
            self._timer = asyncio.get_running_loop().call_later(1.0, self._answer)
        else:
            self._answer()

    def data_received(self, data: bytes) -> None:
        self._answer()

    def _answer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(BUSY)
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._guard._linger_done(self._linger)
        self._linger = False


def fd_budget(wanted: int) -> int:
    """``wanted`` connections, or fewer if the file-descriptor limit cannot hold them and
    ``FD_RESERVE`` more (the soft limit is raised towards the hard one first)."""
    try:
        import resource  # noqa: PLC0415  # POSIX only
    except ImportError:  # pragma: no cover
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


async def serve(guard: ConnectionGuard, runner: web.AppRunner, host: str,
                port: int) -> asyncio.Server:
    """Listen on host:port with aiohttp's handler behind ``guard``."""
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() first")
    loop = asyncio.get_running_loop()
    return await loop.create_server(guard.wrap(server), host, port, backlog=BACKLOG,
                                    reuse_address=True)
