"""Asyncio AMI connection: login, actions, ping watchdog and reconnect.

Parsing is ``callcentre.ami.protocol``; this module only owns the socket.  One
``AmiClient.run()`` task holds the link: connect, read the banner, ``Login`` with
``Events: on``, then read until the link ends, and reconnect with capped exponential
back-off and jitter.  Events go to one synchronous handler in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from callcentre.ami.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiError,
    AmiNotConnected,
)
from callcentre.ami.link import ActionResult, AmiSettings, ClientStats, LinkState
from callcentre.ami.protocol import FrameParser, Message, Reply, ReplyRouter, encode_action
from callcentre.domain.ratelimit import LogBudget

__all__ = ["ActionResult", "AmiClient", "AmiSettings", "Backlog", "ClientStats", "LinkState"]

log = logging.getLogger("callcentre.ami")

READ_SIZE = 1 << 16
Fields = Mapping[str, str | Sequence[str]]
_Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Backlog:
    """Back-pressure from what consumes the events: while ``full()`` the read loop stops
    reading and awaits ``drained()`` (TCP then holds Asterisk back), so a burst that
    outruns the consumer grows neither its backlog nor the link's buffers without bound.
    The ping watchdog counts a held reader as busy, not dead."""

    full: Callable[[], bool]
    drained: Callable[[], Awaitable[None]]


class AmiClient:
    """One AMI link that keeps itself up; see the module docstring."""

    def __init__(
        self,
        settings: AmiSettings,
        handler: Callable[[Message], None],
        *,
        on_state: Callable[[LinkState, str], None] | None = None,
        action_id_prefix: str = "cc",
        rng: random.Random | None = None,
        backlog: Backlog | None = None,
    ) -> None:
        self._settings = settings
        self._handler = handler
        self._backlog = backlog
        self._error_log = LogBudget(60.0)
        self._held_since: float | None = None  # monotonic; while the reader is held
        self._last_held = -1.0  # monotonic end of the last hold
        self._on_state = on_state
        self._prefix = action_id_prefix
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._parser = FrameParser(settings.max_frame_bytes)
        self._stats = ClientStats(parser=self._parser.stats)
        self._state = LinkState.DISCONNECTED
        self._reason = "not started"
        self._router = ReplyRouter()
        self._pending: dict[str, tuple[str, asyncio.Future[ActionResult]]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._connect_task: asyncio.Future[_Streams] | None = None
        self._drop_reason: str | None = None
        self._closing = False
        self._close_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()
        self._outage: tuple[float, int] | None = None  # (monotonic start, failed attempts)

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def pending_actions(self) -> int:
        """Actions sent and still awaiting their reply."""
        return len(self._pending)

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters (parser counters included)."""
        return replace(self._stats, parser=replace(self._parser.stats))

    async def run(self) -> None:
        """Keep the link up until ``close()``; never raises except on cancellation."""
        self._stopped.clear()
        failures = 0
        try:
            while not self._closing:
                failures = 0 if await self._attempt() else failures + 1
                if self._closing:
                    break
                await self._back_off(failures)
                self._stats.reconnect_attempts += 1
        finally:
            if self._state is not LinkState.DISCONNECTED:
                self._set_state(LinkState.DISCONNECTED, "closed" if self._closing else "cancelled")
            self._wake_waiters(AmiNotConnected("AMI client stopped"))
            self._stopped.set()

    async def _attempt(self) -> bool:
        """One connection; True when it got logged in."""
        s = self._settings
        self._set_state(LinkState.CONNECTING, f"connecting to {s.host}:{s.port}")
        self._drop_reason = None
        try:
            await self._session()
            reason = self._drop_reason or "connection closed by Asterisk"
        except AmiAuthenticationError as err:
            self._stats.auth_failures += 1
            self._say_down(f"login refused for {s.username!r}: {err} (check username/secret "
                           "in manager.conf)", logging.ERROR)
            self._set_state(LinkState.AUTH_FAILED, str(err))
            return False
        except (OSError, AmiError, EOFError) as err:
            reason = self._drop_reason or f"{type(err).__name__}: {err}"
        connected = self._state is LinkState.CONNECTED
        if connected:
            self._stats.disconnects += 1
        self._say_down(reason)
        self._set_state(LinkState.DISCONNECTED, reason)
        return connected

    def _say_down(self, reason: str, level: int = logging.WARNING) -> None:
        """One warning when the link goes (or is not there at start), not one per retry."""
        s = self._settings
        if self._closing:
            log.info("AMI link to %s:%d closed: %s", s.host, s.port, reason)
        elif self._outage is None:
            self._outage = (time.monotonic(), 1)
            log.log(level, "no AMI link to %s:%d (%s); calls are not being logged until it is "
                        "back; retrying with back-off", s.host, s.port, reason)
        else:
            started, failures = self._outage
            self._outage = (started, failures + 1)
            log.debug("AMI link to %s:%d still down: %s", s.host, s.port, reason)

    def _say_up(self) -> None:
        s = self._settings
        if self._outage is not None:
            started, failures = self._outage
            log.warning("AMI link to %s:%d back after %.1f s without it (%d failed attempts)",
                        s.host, s.port, time.monotonic() - started, failures)
        self._outage = None

    async def _back_off(self, failures: int) -> None:
        s = self._settings
        delay = min(s.reconnect_max, s.reconnect_initial * 2 ** min(failures, 32))
        delay *= self._rng.uniform(0.5, 1.0)  # jitter: councils' services restart together
        log.debug("AMI reconnect in %.2fs", delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._close_requested.wait(), delay)

    async def _session(self) -> None:
        reader, writer = await self._connect()
        self._writer = writer
        self._parser.reset()
        tasks: list[asyncio.Task[None]] = []
        try:
            await asyncio.wait_for(self._read_banner(reader), self._settings.connect_timeout)
            tasks.append(asyncio.create_task(self._read_loop(reader), name="ami-reader"))
            await self._login()
            self._stats.connects += 1
            self._say_up()
            self._set_state(LinkState.CONNECTED, f"logged in ({self._parser.banner})")
            tasks.append(asyncio.create_task(self._watchdog(writer), name="ami-ping"))
            await tasks[0]
        finally:
            self._writer = None
            writer.transport.abort()
            await _cancel_all(tasks)
            self._fail_pending(self._drop_reason or "AMI link lost")

    async def _connect(self) -> _Streams:
        s = self._settings

        async def opening() -> _Streams:  # made in the task: a close() before it starts
            # leaves no open_connection() coroutine behind never awaited
            return await asyncio.wait_for(asyncio.open_connection(s.host, s.port),
                                          s.connect_timeout)

        self._connect_task = connecting = asyncio.ensure_future(opening())
        try:
            return await connecting
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if connecting.cancelled() and current is not None and not current.cancelling():
                raise AmiNotConnected("closed while connecting") from None  # by close()
            raise
        finally:
            self._connect_task = None

    async def _read_banner(self, reader: asyncio.StreamReader) -> None:
        while self._parser.banner is None:
            data = await reader.read(READ_SIZE)
            if not data:
                raise EOFError("connection closed before the AMI banner")
            self._deliver(data)

    async def _login(self) -> None:
        s = self._settings
        fields = {"Username": s.username, "Secret": s.secret, "Events": "on"}
        try:
            await self._request("Login", fields, s.action_timeout)
        except AmiActionFailed as err:
            raise AmiAuthenticationError(str(err.response.get("Message"))) from err

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(READ_SIZE):
            self._deliver(data)
            if self._backlog is not None and self._backlog.full():
                await self._hold(self._backlog)
        self._fail_pending(self._drop_reason or "connection closed by Asterisk")

    async def _hold(self, backlog: Backlog) -> None:
        started = self._held_since = time.monotonic()
        self._stats.holds += 1
        try:
            await backlog.drained()
        finally:
            self._held_since = None
            self._last_held = time.monotonic()
            self._stats.held_seconds += self._last_held - started

    def _busy_since(self, sent: float) -> bool:
        """Frames came, or the reader was held by the consumer, after ``sent``."""
        last = self._stats.last_frame_monotonic
        return (self._held_since is not None or self._last_held >= sent
                or (last is not None and last >= sent))

    async def _watchdog(self, writer: asyncio.StreamWriter) -> None:
        """Ping every ping_interval; nothing at all from Asterisk within ping_timeout drops
        the link. Any frame proves it alive: under a burst the Pong waits behind the events
        (dropping a busy link lost up to 5 % of a burst's calls)."""
        s = self._settings
        while True:
            await asyncio.sleep(s.ping_interval)
            sent = time.monotonic()
            try:
                await self._request("Ping", None, s.ping_timeout)
            except AmiActionFailed:
                continue  # any reply shows the link is alive
            except AmiNotConnected:
                return
            except AmiActionTimeout:
                if self._busy_since(sent):
                    self._stats.pings_late += 1
                    continue
                self._stats.ping_timeouts += 1
                self._drop_reason = f"no reply to Ping within {s.ping_timeout:g}s"
                writer.transport.abort()  # half-open or silent link: the read loop ends
                return

    def _deliver(self, data: bytes) -> None:
        messages = self._parser.feed(data)
        if messages:
            self._stats.last_frame_monotonic = time.monotonic()
        for message in messages:
            self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        routed = self._router.route(message)
        if isinstance(routed, Reply):
            self._resolve(routed)
        elif routed is not None:
            self._stats.events += 1
            try:
                self._handler(routed)
            except Exception:
                self._stats.handler_errors += 1
                held = self._error_log.allow(routed.event or "?", time.monotonic())
                if held is not None:  # once a minute per event type; a flood stays one line
                    log.exception("AMI event handler failed on %s (skipped; %d more like it "
                                  "skipped since the last report)", routed.event, held)

    def _resolve(self, reply: Reply) -> None:
        entry = self._pending.pop(reply.action_id, None)
        if entry is None or entry[1].done():
            return
        action, future = entry
        if reply.response.response == "Error":
            future.set_exception(AmiActionFailed(action, reply.response))
        else:
            future.set_result(ActionResult(reply.response, reply.events, reply.complete))

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        self._router.reset()
        for _action, future in pending.values():
            if not future.done():
                future.set_exception(AmiNotConnected(reason))

    async def send_action(
        self,
        action: str,
        fields: Fields | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109  # per-action deadline is the contract
    ) -> ActionResult:
        """Send one action and wait for its reply (and its event list, if any).

        Raises AmiNotConnected when not logged in or if the link drops before the
        reply, AmiActionFailed on ``Response: Error``, AmiActionTimeout when the
        whole reply has not arrived within ``timeout`` (default action_timeout), and
        ValueError when a field would inject a header.
        """
        if self._state is not LinkState.CONNECTED:
            raise AmiNotConnected(f"AMI link is {self._state.value}: {self._reason}")
        wait = self._settings.action_timeout if timeout is None else timeout
        return await self._request(action, fields, wait)

    async def _request(self, action: str, fields: Fields | None, seconds: float) -> ActionResult:
        writer = self._writer
        if writer is None:
            raise AmiNotConnected("AMI link is down")
        action_id = f"{self._prefix}-{next(self._ids)}"
        data = encode_action(action, action_id, fields or {})
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = (action, future)
        self._router.expect(action_id)
        try:
            writer.write(data)
            return await asyncio.wait_for(future, seconds)
        except TimeoutError:
            raise AmiActionTimeout(action, action_id, seconds) from None
        finally:
            if self._pending.pop(action_id, None) is not None:
                self._router.forget(action_id)  # timed out or cancelled

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once logged in.

        Raises AmiAuthenticationError if the login is (or was last) refused,
        AmiNotConnected if the client is closed, TimeoutError after ``timeout``.
        """
        if self._state is LinkState.CONNECTED:
            return
        if self._state is LinkState.AUTH_FAILED:
            raise AmiAuthenticationError(self._reason)
        if self._closing:
            raise AmiNotConnected("AMI client is closed")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters.remove(waiter)

    async def close(self) -> None:
        """Log off if connected, close the socket and make ``run()`` return."""
        if self._closing:
            await self._stopped.wait()
            return
        self._closing = True
        self._close_requested.set()
        if self._state is LinkState.CONNECTED:
            with contextlib.suppress(AmiError):
                await self._request("Logoff", None, min(self._settings.action_timeout, 2.0))
        self._drop_reason = "closed by callcentre"
        if self._writer is not None:
            self._writer.transport.abort()
        if self._connect_task is not None:
            self._connect_task.cancel()
        self._wake_waiters(AmiNotConnected("AMI client closed"))
        await self._stopped.wait()

    def _set_state(self, state: LinkState, reason: str) -> None:
        if state is self._state and reason == self._reason:
            return
        self._state, self._reason = state, reason
        if state is LinkState.CONNECTED:
            self._wake_waiters(None)
        elif state is LinkState.AUTH_FAILED:
            self._wake_waiters(AmiAuthenticationError(reason))
        if self._on_state is not None:
            try:
                self._on_state(state, reason)
            except Exception:
                log.exception("AMI on_state callback failed")

    def _wake_waiters(self, exc: Exception | None) -> None:
        for waiter in (w for w in self._waiters if not w.done()):
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and wait for them, without swallowing our own cancellation."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: already handled through the session's outcome
