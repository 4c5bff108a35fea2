"""The readers bench/ami_ingest.py times: each connects to 127.0.0.1:port, reads the
stream to EOF and returns {"events", "seconds", ["calls", ...]}; each runs in a fresh
process.  Every parser stage does the same work for each frame: its parser builds the
frame's header mapping (its own kind: our Message, a dict, panoramisk's Message,
asterisk-ami's Event) and the reader looks up ``Event`` in it.  The one exception is
labelled: ``callcentre, text kept`` splits no header (what the service does).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _stream import INBOUND_CONTEXTS, REGION

HOST = "127.0.0.1"
Result = dict[str, Any]


class SplitParser:
    """The ten-line reference: frames end at a blank line, lines at CRLF, "Key: value";
    bytes kept until a frame is complete, so a UTF-8 character may be split across reads.
    A repeated key keeps its last value; a line without ": " (the banner) is skipped."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[dict[str, str]]:
        *frames, self._rest = (self._rest + data).split(b"\r\n\r\n")
        return [dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
                for frame in frames]


async def receive(port: int, on_data: Callable[[bytes], None]) -> None:
    """Connect to 127.0.0.1:port and hand every read to ``on_data`` until EOF."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    class Reader(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            try:
                on_data(data)
            except Exception as err:  # a failing stage must fail, not stop early
                if not done.done():
                    done.set_exception(err)
                raise

        def connection_lost(self, exc: Exception | None) -> None:
            if not done.done():
                done.set_result(None)

    await loop.create_connection(Reader, HOST, port)
    await done


def _count_events(port: int, feed: Callable[[bytes], list[Any]],
                  event_of: Callable[[Any], Any]) -> Result:
    """Feed every read to ``feed``; count the frames whose ``event_of`` is not None."""
    events = 0

    def on_data(data: bytes) -> None:
        nonlocal events
        for frame in feed(data):
            if event_of(frame) is not None:
                events += 1

    started = time.perf_counter()
    asyncio.run(receive(port, on_data))
    return {"events": events, "seconds": time.perf_counter() - started}


def callcentre_text(port: int) -> Result:
    """FrameParser as the service runs it: frames kept as text, ``Event`` read."""
    from callcentre.ami.protocol import FrameParser

    return _count_events(port, FrameParser().feed, lambda m: m.event)


def callcentre_split(port: int) -> Result:
    """FrameParser(split_headers=True): every header split into a dict."""
    from callcentre.ami.protocol import FrameParser

    return _count_events(port, FrameParser(split_headers=True).feed, lambda m: m.get("Event"))


def split_reference(port: int) -> Result:
    return _count_events(port, SplitParser().feed, lambda d: d.get("Event"))


def panoramisk_parser(port: int) -> Result:
    """panoramisk 1.4's AMIProtocol: data_received -> Message.from_line -> dispatch.

    A stand-in for panoramisk.Manager supplies only what AMIProtocol calls on it;
    the encoding is the Manager's default, utf8.
    """
    from panoramisk.ami_protocol import AMIProtocol

    async def main() -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        class Factory:
            forgetable_actions = ("ping", "login")
            awaiting_actions: deque[Any] = deque()
            save_stream = None
            events = 0

            def dispatch(self, message: Any) -> None:
                self.events += message.get("Event") is not None

            def connection_lost(self, exc: Any) -> None:
                done.set_result(self.events)

        factory = Factory()

        class Protocol(AMIProtocol):  # type: ignore[misc]
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                self.factory = factory  # what Manager.connect() sets
                self.encoding = "utf8"

        await loop.create_connection(Protocol, HOST, port)
        return await done

    started = time.perf_counter()
    events = asyncio.run(main())
    return {"events": events, "seconds": time.perf_counter() - started}


def asterisk_ami_parser(port: int) -> Result:
    """asterisk-ami 0.1.7's AMIClient: its own reader thread, default 1 KiB recv."""
    from asterisk.ami import AMIClient

    finished = threading.Event()
    count = 0

    def on_event(source: Any, event: Any) -> None:
        nonlocal count
        count += event.name is not None

    client = AMIClient(address=HOST, port=port, timeout=30)
    client.add_listener(on_event=on_event, on_disconnect=lambda source, error: finished.set())
    started = time.perf_counter()
    client.connect()
    finished.wait()
    return {"events": count, "seconds": time.perf_counter() - started}


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _translator() -> Any:
    from callcentre.ami.translate import Translator
    from callcentre.phones import normaliser

    return Translator(INBOUND_CONTEXTS, normaliser(REGION), SystemClock())


def _tracker() -> Any:
    from callcentre.domain.calls import CallTracker
    from callcentre.scheduling.policy import load_policy

    hours = load_policy(Path("/nonexistent")).hours  # the packaged default
    return CallTracker(hours.is_open)


def _call_log_bus(consumer: Callable[[Any], None]) -> Any:
    """The subscription table with the call log's rows only (no callbacks in the bench)."""
    from callcentre.domain.events import CallEvent
    from callcentre.services.bus import EventBus

    bus = EventBus()
    for kind in CallEvent.__args__:  # type: ignore[attr-defined]
        bus.subscribe(kind, consumer)
    return bus


def call_tracking(port: int) -> Result:
    """FrameParser -> Translator -> CallTracker, as the service folds events, no storage."""
    from callcentre.ami.protocol import FrameParser

    parser, translate, tracker = FrameParser(), _translator(), _tracker()
    events = finished = 0

    def track(event: Any) -> None:
        nonlocal finished
        call = tracker.apply(event)
        finished += call is not None and call.finished

    publish = _call_log_bus(track).publish

    def on_data(data: bytes) -> None:
        nonlocal events
        for message in parser.feed(data):
            events += message.event is not None
            event = translate(message)
            if event is not None:
                publish(event)

    started = time.perf_counter()
    asyncio.run(receive(port, on_data))
    return {"events": events, "seconds": time.perf_counter() - started, "calls": finished}


PG_DSN = "CALLCENTRE_BENCH_PG"  # the database of a run, set by bench/ami_ingest.py
SQLITE_FILE = "CALLCENTRE_BENCH_SQLITE"  # a copy of a history for the run, when one is given


def whole_path(port: int) -> Result:
    """FrameParser -> Translator -> CallLogService -> SQLite (a temporary file, or the copy
    of a history in $SQLITE_FILE)."""
    import os
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_whole_path(
            port, os.environ.get(SQLITE_FILE) or str(Path(tmp) / "bench.sqlite3")))


def whole_path_postgres(port: int) -> Result:
    """FrameParser -> Translator -> CallLogService -> PostgreSQL (the database in $PG_DSN)."""
    import os
    return asyncio.run(_whole_path(port, os.environ[PG_DSN]))


async def _whole_path(port: int, url: str) -> Result:
    from callcentre.ami.protocol import FrameParser
    from callcentre.ami.resync import AmiEvents
    from callcentre.services.calllog import CallLogService
    from callcentre.storage.db import Database
    from callcentre.storage.engines import is_postgres, repositories_on
    from callcentre.storage.postgres.db import PgDatabase

    db = PgDatabase(url) if is_postgres(url) else Database(Path(url))
    await db.open()
    await db.migrate()
    stores = repositories_on(db)
    finished = "SELECT count(*) FROM calls WHERE outcome IS NOT NULL"
    before = int((await db.fetch_all(finished))[0][0])  # a history's calls, if any
    service = CallLogService(_tracker(), stores.calls, stores.cases, timedelta(days=7))
    parser = FrameParser()
    ami_events = AmiEvents(_translator(), _call_log_bus(service.handle).publish)
    events = 0

    def on_data(data: bytes) -> None:
        nonlocal events
        for message in parser.feed(data):
            events += message.event is not None
            ami_events(message)

    started = time.perf_counter()
    await receive(port, on_data)
    await service.flush()
    seconds = time.perf_counter() - started
    rows = await db.fetch_all(finished)
    await db.close()
    return {"events": events, "seconds": seconds, "calls": int(rows[0][0]) - before,
            "flushes": service.stats.flushes}
