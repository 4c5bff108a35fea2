"""AMI ingest: how fast each AMI reader turns a large real-mix stream into events.

The stream (bench/_stream.py: >= 200,000 events of recorded calls) is served once
per stage over a local TCP socket (127.0.0.1 only) by this process; each stage runs
in a fresh Python subprocess, so its peak RSS (ru_maxrss) is its own.  Printed per
stage: events, seconds, events/s, peak RSS; then the ratio ours / panoramisk.

    .venv/bin/python bench/ami_ingest.py [--events N] [--stages name,name]

To add a stage (e.g. "parser + call tracking", "whole path with SQLite"), write a
function ``(port) -> events`` that connects to 127.0.0.1:port, reads until EOF
and returns how many events it handled, and add it to STAGES.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _stream import build_stream

HOST = "127.0.0.1"


def callcentre_parser(port: int) -> int:
    """Our FrameParser fed by an asyncio Protocol (the same transport as panoramisk)."""
    from callcentre.ami.protocol import FrameParser

    async def main() -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        class Reader(asyncio.Protocol):
            def __init__(self) -> None:
                self.parser = FrameParser()
                self.events = 0

            def data_received(self, data: bytes) -> None:
                for message in self.parser.feed(data):
                    if message.event is not None:
                        self.events += 1

            def connection_lost(self, exc: Exception | None) -> None:
                done.set_result(self.events)

        await loop.create_connection(Reader, HOST, port)
        return await done

    return asyncio.run(main())


def panoramisk_parser(port: int) -> int:
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

    return asyncio.run(main())


def asterisk_ami_parser(port: int) -> int:
    """asterisk-ami 0.1.7's AMIClient: its own reader thread, default 1 KiB recv."""
    from asterisk.ami import AMIClient

    finished = threading.Event()
    count = 0

    def on_event(source: Any, event: Any) -> None:
        nonlocal count
        count += 1

    client = AMIClient(address=HOST, port=port, timeout=30)
    client.add_listener(on_event=on_event, on_disconnect=lambda source, error: finished.set())
    client.connect()
    finished.wait()
    return count


# stage name -> (port) -> events seen; each runs in a fresh subprocess.
STAGES: dict[str, Callable[[int], int]] = {
    "callcentre FrameParser": callcentre_parser,
    "panoramisk 1.4": panoramisk_parser,
    "asterisk-ami 0.1.7": asterisk_ami_parser,
}
OURS, REFERENCE = "callcentre FrameParser", "panoramisk 1.4"


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
    baseline = peak_rss_kib()
    started = time.perf_counter()
    events = STAGES[name](port)
    seconds = time.perf_counter() - started
    print(json.dumps({"events": events, "seconds": seconds, "rss_kib": peak_rss_kib(),
                      "baseline_kib": baseline}))


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


def run_stage(name: str, path: Path) -> dict[str, Any]:
    port, server = serve_once(path)
    child = subprocess.run(
        [sys.executable, __file__, "--child", name, "--port", str(port)],
        capture_output=True, text=True, check=False, timeout=900,
    )
    server.join(timeout=5)
    if child.returncode != 0:
        raise SystemExit(f"stage {name!r} failed:\n{child.stderr}")
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    args = parse_args()
    if args.child:
        run_stage_here(args.child, args.port)
        return
    names = args.stages.split(",") if args.stages else list(STAGES)
    stream = build_stream(args.events)
    print(f"stream: {stream.events} events ({stream.calls} recorded calls replayed),"
          f" {len(stream.data) / 2**20:.1f} MiB, over TCP {HOST}, one subprocess per stage")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.ami"
        path.write_bytes(stream.data)
        del stream
        for name in names:
            results[name] = result = run_stage(name, path)
            rate = result["events"] / result["seconds"]
            print(f"{name:<26}{result['events']:>9} events {result['seconds']:8.2f} s"
                  f" {rate:>11,.0f} events/s   peak RSS {result['rss_kib'] / 1024:6.1f} MiB"
                  f" (at start {result['baseline_kib'] / 1024:.1f})")
    counts = {r["events"] for r in results.values()}
    if len(counts) > 1:
        print(f"WARNING: stages saw different event counts: {sorted(counts)}")
    if OURS in results and REFERENCE in results:
        ours, ref = results[OURS], results[REFERENCE]
        ratio = (ours["events"] / ours["seconds"]) / (ref["events"] / ref["seconds"])
        print(f"ratio {OURS} / {REFERENCE}: {ratio:.2f}x events/s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="minimum stream size")
    parser.add_argument("--stages", help=f"comma-separated subset of: {', '.join(STAGES)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
