"""The large AMI byte stream shared by the ingest benchmarks.

``build_stream(min_events)`` plays the recorded calls (tests/fixtures/ami:
answered, abandoned, callback, in turn) one after another as new calls, through
``callcentre.ami.fakeserver.rewrite_trace``: each copy's times start where the
previous call ended (plus a gap) and its Uniqueid/Linkedid sequence numbers are
offset, so the stream looks like one long day of a real PBX with the event mix
of the real thing (VarSet, CEL, Newexten, ... about 130 events per call).  The
banner comes first, so every client under test sees the start of a session.

Run it directly to see the size and event mix:  .venv/bin/python bench/_stream.py
"""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from callcentre.ami.fakeserver import rewrite_trace
from callcentre.ami.protocol import FrameParser

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
TRACE_NAMES = ("answered", "abandoned", "callback")
INBOUND = frozenset({"answered", "abandoned"})  # a resident's call each; "callback" is outbound
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
START = 1_800_000_000.0  # epoch of the first event (2027-01-15)
GAP = 2.0  # seconds between one replayed call's last event and the next one's first
IDS_PER_CALL = 100  # the recorded calls use Uniqueid sequence numbers below 100


@dataclass(frozen=True)
class Stream:
    data: bytes
    events: int
    calls: int
    inbound_calls: int  # the calls the call log should record, all finished


def build_stream(min_events: int = 200_000) -> Stream:
    """Whole recorded calls, concatenated until at least ``min_events`` events."""
    traces = [(FIXTURES / f"{name}.ami").read_bytes() for name in TRACE_NAMES]
    parts = [BANNER]
    events = calls = inbound = 0
    at = START
    while events < min_events:
        frames = rewrite_trace(
            traces[calls % len(traces)], rebase_to=at, id_offset=calls * IDS_PER_CALL
        )
        parts.extend(frame.data for frame in frames)
        events += len(frames)
        inbound += TRACE_NAMES[calls % len(traces)] in INBOUND
        calls += 1
        at += frames[-1].offset + GAP
    return Stream(b"".join(parts), events, calls, inbound)


def event_mix(data: bytes) -> collections.Counter[str]:
    parser = FrameParser()
    return collections.Counter(m.event or "?" for m in parser.feed(data))


def main() -> None:
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    started = time.perf_counter()
    stream = build_stream(wanted)
    took = time.perf_counter() - started
    print(
        f"{stream.events} events in {stream.calls} calls, {len(stream.data) / 2**20:.1f} MiB,"
        f" built in {took:.1f}s"
    )
    for name, count in event_mix(stream.data).most_common(12):
        print(f"  {name:<24}{count:>8}  {count / stream.events:6.1%}")


if __name__ == "__main__":
    main()
