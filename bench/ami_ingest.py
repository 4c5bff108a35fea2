"""AMI ingest: how fast each AMI reader turns a stream of recorded calls into events.

Two streams (bench/_stream.py, each >= 200,000 events): ``real``, the recorded calls
with Asterisk's whole event mix (190 events a resident's call), and ``compact``, the
residents' calls with only the events the translator acts on (21 a call).  Each is
served once per run of a stage over a local TCP socket (127.0.0.1 only) by this
process; each run is a fresh Python subprocess, so its peak RSS (VmHWM) is its own.
A stage's clock starts when it connects and stops when it has handled the last event
(for the whole path: when everything is written to SQLite).  Stages run in turn,
``--runs`` rounds (default 3), so a busy machine slows every stage alike; printed are
the best and median events/s and calls/s (residents' calls), the peak RSS, each
parser's ratio to each reference in the same run, and the whole path against its target.

    .venv/bin/python bench/ami_ingest.py [--events N] [--runs N] [--streams real,compact]
                                         [--stages name,name]

The stages (bench/_readers.py).  The parser stages do the same work on each frame:
split every header into a name -> value mapping, then read ``Event`` from it.
  callcentre, all headers  FrameParser(split_headers=True); first value of a repeated name
  split(": ") reference    ten lines of bytes.split / str.split / dict (last value wins)
  panoramisk 1.4           its AMIProtocol, as panoramisk.Manager drives it
  asterisk-ami 0.1.7       its AMIClient with its own reader thread
Not the same work, so labelled apart:
  callcentre, text kept    FrameParser as the service runs it: reads ``Event`` of each
                           frame and splits no header (most events go no further)
  parser + call tracking   FrameParser -> Translator -> subscription table -> CallTracker
  whole path with SQLite   FrameParser -> AmiEvents -> subscription table -> CallLogService
                           with the SQLite repositories on a temporary file, flushed at the
                           end; the finished calls in the database must equal the stream's
  whole path with PostgreSQL   the same with the PostgreSQL repositories, on an empty
                           database of its own each run (a throwaway cluster with a
                           server's settings, bench/_engines.py); only with
                           ``--engines sqlite,postgresql`` (or postgresql), which also
                           prints its ratio to the SQLite whole path of the same run
With ``--history FILE`` (a database of bench/history.py, e.g. the 1M-call one that
bench/pages_at_scale.py keeps), both whole paths write into a fresh copy of that history
each run rather than into an empty database: SQLite into a copy of the file, PostgreSQL
into a copy (CREATE DATABASE ... TEMPLATE) of the history put into it once by
``callcentre migrate-data`` (timed and printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import _engines
import _readers
from _readers import HOST, Result
from _stream import build_stream

TARGET_EVENTS_PER_S = 50_000  # whole path: replay and catch-up headroom over a few hundred/s
TARGET_RSS_MIB = 100

SPLIT, TEXT = "callcentre, all headers", "callcentre, text kept"
REFERENCES = ('split(": ") reference', "panoramisk 1.4", "asterisk-ami 0.1.7")
TRACKING, WHOLE = "parser + call tracking", "whole path with SQLite"
WHOLE_PG = "whole path with PostgreSQL"
# stage name -> (port) -> {"events", "seconds", ["calls", ...]}; each run in a fresh subprocess.
STAGES: dict[str, Callable[[int], Result]] = {
    SPLIT: _readers.callcentre_split,
    REFERENCES[0]: _readers.split_reference,
    REFERENCES[1]: _readers.panoramisk_parser,
    REFERENCES[2]: _readers.asterisk_ami_parser,
    TEXT: _readers.callcentre_text,
    TRACKING: _readers.call_tracking,
    WHOLE: _readers.whole_path,
    WHOLE_PG: _readers.whole_path_postgres,
}
CHECKS_CALLS = (TRACKING, WHOLE, WHOLE_PG)
PG_STAGES = (WHOLE_PG,)


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


def run_stage(name: str, path: Path, running: _engines.postgres.Cluster | None = None,
              history: Path | None = None) -> Result:
    env = dict(os.environ)
    if name in PG_STAGES:  # empty, or a copy of the history, each run
        assert running is not None
        asyncio.run(_engines.create(running, "ingest", "pristine" if history else None))
        env[_readers.PG_DSN] = running.dsn("ingest")
    elif name == WHOLE and history:
        copy = path.parent / "history.sqlite3"
        shutil.copyfile(history, copy)
        env[_readers.SQLITE_FILE] = str(copy)
    port, server = serve_once(path)
    child = subprocess.run(
        [sys.executable, __file__, "--child", name, "--port", str(port)],
        capture_output=True, text=True, check=False, timeout=900, env=env,
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
    engines = _engines.engines(args.engines)
    names = args.stages.split(",") if args.stages else [
        s for s in STAGES if s not in PG_STAGES or "postgresql" in engines]
    names = [n for n in names if n != WHOLE or "sqlite" in engines]
    with contextlib.ExitStack() as stack:
        running = None
        if any(n in PG_STAGES for n in names):
            running = stack.enter_context(_engines.cluster(args.pg_shared_buffers))
            print(_engines.settings_note(args.pg_shared_buffers), flush=True)
            if args.history:
                print(asyncio.run(_engines.migrate_data(running, args.history, "pristine")),
                      flush=True)
        for kind in args.streams.split(","):
            measure(kind, names, args.events, args.runs, running, args.history)


def measure(kind: str, names: list[str], min_events: int, rounds: int,
            running: _engines.postgres.Cluster | None = None,
            history: Path | None = None) -> None:
    stream = build_stream(min_events, compact=kind == "compact")
    events, calls = stream.events, stream.inbound_calls
    print(f"\n== stream {kind}: {events} events, {calls} residents' calls"
          f" ({events / calls:.0f} events a call; {stream.calls} calls replayed in all),"
          f" {len(stream.data) / 2**20:.1f} MiB, over TCP {HOST}; {rounds} rounds,"
          f" one subprocess per run"
          + (f"; the whole paths into a copy of {history.name} each run" if history else ""),
          flush=True)
    runs: dict[str, list[Result]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.ami"
        path.write_bytes(stream.data)
        del stream
        for round_no in range(1, rounds + 1):
            for name in names:
                runs[name].append(result := run_stage(name, path, running, history))
                print(f"  round {round_no}  {name:<26}{result['rate']:>11,.0f} events/s"
                      f"{calls / result['seconds']:>9,.0f} calls/s  {result['seconds']:6.2f} s"
                      f"  peak RSS {result['rss_kib'] / 1024:6.1f} MiB", flush=True)
    report(kind, runs, events, calls)


def report(kind: str, runs: dict[str, list[Result]], events: int, calls: int) -> None:
    per_call = calls / events  # calls/s = events/s * calls per event
    print(f"\n{kind:<26}{'events/s best':>15}{'median':>10}{'calls/s best':>14}{'median':>9}"
          f"{'peak RSS MiB':>14}")
    for name, results in runs.items():
        best, median = _rates(results, max), _rates(results, statistics.median)
        print(f"{name:<26}{best:>15,.0f}{median:>10,.0f}{best * per_call:>14,.0f}"
              f"{median * per_call:>9,.0f}{max(r['rss_kib'] for r in results) / 1024:>14.1f}")
        if any(r["events"] != events for r in results):
            print(f"  WARNING: {name} saw {sorted({r['events'] for r in results})} events,"
                  f" the stream has {events}")
        if name in CHECKS_CALLS and any(r["calls"] != calls for r in results):
            print(f"  WARNING: {name} finished {sorted({r['calls'] for r in results})} calls,"
                  f" the stream has {calls}")
    for mine in (SPLIT, TEXT):
        for reference in REFERENCES:
            if mine in runs and reference in runs:
                best, median = (_rates(runs[mine], f) / _rates(runs[reference], f)
                                for f in (max, statistics.median))
                note = "" if mine == SPLIT else "  (not the same work: no header split)"
                print(f"ratio {mine} / {reference}: best {best:.2f}x, median {median:.2f}x{note}")
    for whole, engine in ((WHOLE, "SQLite"), (WHOLE_PG, "PostgreSQL")):
        if whole not in runs:
            continue
        results = runs[whole]
        rss = max(r["rss_kib"] for r in results) / 1024
        target = f" (target >= {TARGET_EVENTS_PER_S:,} on the real mix)" if kind == "real" else ""
        print(f"{whole}: best {_rates(results, max):,.0f}, median"
              f" {_rates(results, statistics.median):,.0f} events/s{target}, best"
              f" {_rates(results, max) * per_call:,.0f} calls/s; peak RSS {rss:.1f} MiB"
              f" (target < {TARGET_RSS_MIB}); finished calls in {engine}"
              f" {sorted({r['calls'] for r in results})} of {calls}")
    if WHOLE in runs and WHOLE_PG in runs:
        best, median = (_rates(runs[WHOLE_PG], f) / _rates(runs[WHOLE], f)
                        for f in (max, statistics.median))
        print(f"ratio {WHOLE_PG} / {WHOLE} (events/s, same run): best {best:.2f}x, "
              f"median {median:.2f}x")


def _rates(results: list[Result], pick: Callable[[list[float]], float]) -> float:
    return pick([r["rate"] for r in results])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="minimum stream size")
    parser.add_argument("--runs", type=int, default=3, help="rounds of every stage")
    parser.add_argument("--streams", default="real,compact", help="real, compact or both")
    parser.add_argument("--stages", help=f"comma-separated subset of: {', '.join(STAGES)}")
    parser.add_argument("--engines", default="sqlite",
                        help="the whole path on sqlite, postgresql or both (sqlite,postgresql)")
    parser.add_argument("--pg-shared-buffers", default="256MB")
    parser.add_argument("--history", type=Path,
                        help="write the whole paths into a copy of this history (SQLite file)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
