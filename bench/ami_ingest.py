"""AMI ingest: how fast each AMI reader turns a large real-mix stream into events.

The stream (bench/_stream.py: >= 200,000 events of recorded calls) is served once
per run of a stage over a local TCP socket (127.0.0.1 only) by this process; each
run is a fresh Python subprocess, so its peak RSS (VmHWM) is its own.  A stage's
clock starts when it connects and stops when it has handled the last event (for the
whole path: when everything is written to SQLite).  Stages run in turn, ``--runs``
rounds (default 3), so a busy machine slows every stage alike; printed are the
best and median events/s, the peak RSS, the ratio ours / panoramisk and the whole
path against its target.

    .venv/bin/python bench/ami_ingest.py [--events N] [--runs N] [--stages name,name]

The stages:
  callcentre FrameParser   our parser, reading ``Event`` of every message (what the
                           service does first; most events go no further)
  FrameParser + all headers the same, building every message's header list too
  parser + call tracking   FrameParser -> Translator -> subscription table -> CallTracker,
                           no storage
  whole path with SQLite   FrameParser -> AmiEvents (the translator, as the AMI client
                           calls it) -> subscription table -> CallLogService with the
                           SQLite repositories on a temporary file, flushed at the end; the
                           finished calls in the database must equal the stream's
  panoramisk 1.4           its AMIProtocol, as panoramisk.Manager drives it
  asterisk-ami 0.1.7       its AMIClient with its own reader thread
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _stream import build_stream

HOST = "127.0.0.1"
INBOUND_CONTEXTS = ("from-resident",)  # the context of the residents' calls in the recordings
REGION = "GB"
TARGET_EVENTS_PER_S = 50_000  # whole path: replay and catch-up headroom over a few hundred/s
TARGET_RSS_MIB = 100
TARGET_RATIO = 2.5  # our parser / panoramisk

Result = dict[str, Any]


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


def callcentre_parser(port: int) -> Result:
    """Our FrameParser fed by an asyncio Protocol (the same transport as panoramisk)."""
    return _parse_only(port, all_headers=False)


def callcentre_parser_all_headers(port: int) -> Result:
    return _parse_only(port, all_headers=True)


def _parse_only(port: int, all_headers: bool) -> Result:
    from callcentre.ami.protocol import FrameParser

    parser = FrameParser()
    events = 0

    def on_data(data: bytes) -> None:
        nonlocal events
        for message in parser.feed(data):
            if all_headers:
                message.items()
            if message.event is not None:
                events += 1

    started = time.perf_counter()
    asyncio.run(receive(port, on_data))
    return {"events": events, "seconds": time.perf_counter() - started}


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


def whole_path(port: int) -> Result:
    """FrameParser -> Translator -> CallLogService -> SQLite (a temporary file)."""
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_whole_path(port, Path(tmp) / "bench.sqlite3"))


async def _whole_path(port: int, path: Path) -> Result:
    from callcentre.ami.protocol import FrameParser
    from callcentre.ami.resync import AmiEvents
    from callcentre.services.calllog import CallLogService
    from callcentre.storage.call_repository import SqliteCallRepository
    from callcentre.storage.case_repository import SqliteCaseRepository
    from callcentre.storage.db import Database

    db = Database(path)
    await db.open()
    await db.migrate()
    service = CallLogService(_tracker(), SqliteCallRepository(db), SqliteCaseRepository(db),
                             timedelta(days=7))
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
    rows = await db.fetch_all("SELECT count(*) FROM calls WHERE outcome IS NOT NULL")
    await db.close()
    return {"events": events, "seconds": seconds, "calls": int(rows[0][0]),
            "flushes": service.stats.flushes}


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
                self.events += 1

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
        count += 1

    client = AMIClient(address=HOST, port=port, timeout=30)
    client.add_listener(on_event=on_event, on_disconnect=lambda source, error: finished.set())
    started = time.perf_counter()
    client.connect()
    finished.wait()
    return {"events": count, "seconds": time.perf_counter() - started}


OURS, ALL_HEADERS = "callcentre FrameParser", "FrameParser + all headers"
TRACKING, WHOLE, REFERENCE = "parser + call tracking", "whole path with SQLite", "panoramisk 1.4"
# stage name -> (port) -> {"events", "seconds", ["calls", ...]}; each run in a fresh subprocess.
STAGES: dict[str, Callable[[int], Result]] = {
    OURS: callcentre_parser,
    ALL_HEADERS: callcentre_parser_all_headers,
    TRACKING: call_tracking,
    WHOLE: whole_path,
    REFERENCE: panoramisk_parser,
    "asterisk-ami 0.1.7": asterisk_ami_parser,
}
CHECKS_CALLS = (TRACKING, WHOLE)


def peak_rss_kib() -> int:
    """This process's peak RSS.  ru_maxrss survives exec on Linux (a child would
    report the parent's peak, stream included), so read VmHWM, which is reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run_stage_here(name: str, port: int) -> None:
    """Child side: run one stage, print its figures as JSON."""
    result = STAGES[name](port)
    result["rss_kib"] = peak_rss_kib()
    print(json.dumps(result))


def serve_once(path: Path) -> tuple[int, threading.Thread]:
    """Send the stream file to the first connection on 127.0.0.1, then close."""
    listener = socket.create_server((HOST, 0))
    port = int(listener.getsockname()[1])

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn, path.open("rb") as stream:
                conn.sendfile(stream)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def run_stage(name: str, path: Path) -> Result:
    port, server = serve_once(path)
    child = subprocess.run(
        [sys.executable, __file__, "--child", name, "--port", str(port)],
        capture_output=True, text=True, check=False, timeout=900,
    )
    server.join(timeout=5)
    if child.returncode != 0:
        raise SystemExit(f"stage {name!r} failed:\n{child.stderr}")
    result: Result = json.loads(child.stdout.strip().splitlines()[-1])
    result["rate"] = result["events"] / result["seconds"]
    return result


def main() -> None:
    args = parse_args()
    if args.child:
        run_stage_here(args.child, args.port)
        return
    names = args.stages.split(",") if args.stages else list(STAGES)
    stream = build_stream(args.events)
    print(f"stream: {stream.events} events ({stream.calls} recorded calls replayed,"
          f" {stream.inbound_calls} of them residents' calls), {len(stream.data) / 2**20:.1f} MiB,"
          f" over TCP {HOST}; {args.runs} rounds, one subprocess per run")
    runs: dict[str, list[Result]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.ami"
        path.write_bytes(stream.data)
        events, inbound_calls = stream.events, stream.inbound_calls
        del stream
        for round_no in range(1, args.runs + 1):
            for name in names:
                runs[name].append(result := run_stage(name, path))
                print(f"  round {round_no}  {name:<26}{result['rate']:>11,.0f} events/s"
                      f"  {result['seconds']:6.2f} s  peak RSS {result['rss_kib'] / 1024:6.1f} MiB",
                      flush=True)
    report(runs, events, inbound_calls)


def report(runs: dict[str, list[Result]], events: int, inbound_calls: int) -> None:
    print(f"\n{'stage':<26}{'best events/s':>15}{'median':>11}{'peak RSS MiB (max)':>20}")
    for name, results in runs.items():
        rates = [r["rate"] for r in results]
        print(f"{name:<26}{max(rates):>15,.0f}{statistics.median(rates):>11,.0f}"
              f"{max(r['rss_kib'] for r in results) / 1024:>20.1f}")
        if any(r["events"] != events for r in results):
            print(f"  WARNING: {name} saw {sorted({r['events'] for r in results})} events,"
                  f" the stream has {events}")
        if name in CHECKS_CALLS and any(r["calls"] != inbound_calls for r in results):
            print(f"  WARNING: {name} finished {sorted({r['calls'] for r in results})} calls,"
                  f" the stream has {inbound_calls}")
    for mine in (OURS, ALL_HEADERS):
        if mine in runs and REFERENCE in runs:
            best, median = (_rates(runs[mine], f) / _rates(runs[REFERENCE], f)
                            for f in (max, statistics.median))
            print(f"ratio {mine} / {REFERENCE}: best {best:.2f}x, median {median:.2f}x"
                  f" (target >= {TARGET_RATIO}x)")
    if WHOLE in runs:
        results = runs[WHOLE]
        rss = max(r["rss_kib"] for r in results) / 1024
        print(f"{WHOLE}: best {_rates(results, max):,.0f}, median"
              f" {_rates(results, statistics.median):,.0f} events/s"
              f" (target >= {TARGET_EVENTS_PER_S:,}); peak RSS {rss:.1f} MiB"
              f" (target < {TARGET_RSS_MIB}); finished calls in SQLite"
              f" {sorted({r['calls'] for r in results})} of {inbound_calls}")


def _rates(results: list[Result], pick: Callable[[list[float]], float]) -> float:
    return pick([r["rate"] for r in results])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="minimum stream size")
    parser.add_argument("--runs", type=int, default=3, help="rounds of every stage")
    parser.add_argument("--stages", help=f"comma-separated subset of: {', '.join(STAGES)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
