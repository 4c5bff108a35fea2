"""The agents' live feed (``GET /api/callbacks/stream``): bounded per subscriber.

One task (``ChangeFeed.run``, supervised as ``live-feed`` by app.py) renders the board
once per change for each agent filter in use and offers it to every subscriber's queue,
which holds at most ``queue_size`` updates. A subscriber that does not read falls behind:
when its queue is full, or one of its writes has not drained within ``write_timeout``,
it is dropped (its connection aborted) and counted (``callcentre_live_subscribers_dropped
_total``). So a client that never reads costs a bounded queue and a bounded time, never
the server's memory, and never holds the other subscribers back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

Board = Callable[[str | None], Awaitable[dict[str, Any]]]  # agent -> prompts snapshot
KEEP_ALIVE = b": keep-alive\n\n"


def board_event(board: dict[str, Any]) -> bytes:
    return f"event: prompts\ndata: {json.dumps(board)}\n\n".encode()


class Subscriber:
    """One open stream: its agent filter, its bounded queue (None ends it)."""

    def __init__(self, feed: ChangeFeed, agent: str | None,
                 transport: asyncio.Transport | None) -> None:
        self.agent = agent
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(feed.queue_size)
        self.dropped = False
        self._feed = feed
        self._transport = transport

    async def next(self, heartbeat: float) -> bytes | None:
        """The next update, a keep-alive after ``heartbeat`` s, or None: the stream ends."""
        try:
            return await asyncio.wait_for(self.queue.get(), heartbeat)
        except TimeoutError:
            return KEEP_ALIVE

    async def write(self, response: web.StreamResponse, data: bytes) -> bool:
        """False when the client is gone or too slow (then it is dropped)."""
        try:
            async with asyncio.timeout(self._feed.write_timeout):
                await response.write(data)
        except TimeoutError:
            self._feed.drop(self)
            return False
        except ConnectionError:  # the client left, or was dropped meanwhile
            return False
        return True

    def end(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class ChangeFeed:
    """Wakes the live-feed task when anything about callbacks changed (``bump``)."""

    def __init__(self, queue_size: int = 8, write_timeout: float = 30.0) -> None:
        self.queue_size = queue_size
        self.write_timeout = write_timeout
        self.version = 0
        self.closed = False
        self.dropped = 0
        self._changed = asyncio.Event()
        self._subscribers: set[Subscriber] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def bump(self, *_: object) -> None:
        self.version += 1
        self._changed.set()

    def close(self) -> None:
        """End every stream (the server is shutting down)."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.end()
        self._changed.set()

    @contextlib.contextmanager
    def subscribe(self, agent: str | None,
                  transport: asyncio.Transport | None) -> Iterator[Subscriber]:
        sub = Subscriber(self, agent, transport)
        self._subscribers.add(sub)
        if self.closed:
            sub.end()
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def drop(self, sub: Subscriber) -> None:
        if sub.dropped:
            return
        sub.dropped = True
        self.dropped += 1
        self._subscribers.discard(sub)
        sub.end()
        sub.abort()

    async def run(self, board: Board) -> None:
        """The live-feed task: on every change, the new board to every subscriber."""
        while not self.closed:
            await self._changed.wait()
            self._changed.clear()
            if not self.closed:
                await self.publish(board)

    async def publish(self, board: Board) -> None:
        rendered: dict[str | None, bytes] = {}
        for sub in list(self._subscribers):
            if sub.agent not in rendered:
                rendered[sub.agent] = board_event(await board(sub.agent))
            if sub.dropped:
                continue
            try:
                sub.queue.put_nowait(rendered[sub.agent])
            except asyncio.QueueFull:
                self.drop(sub)
