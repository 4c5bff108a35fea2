"""The AMI byte streams shared by the ingest benchmarks.

``build_stream(min_events)`` plays the recorded calls (tests/fixtures/ami:
answered, abandoned, callback, in turn) one after another as new calls, through
``callcentre.ami.fakeserver.rewrite_trace``: each copy's times start where the
previous call ended (plus a gap) and its Uniqueid/Linkedid sequence numbers are
offset, so the stream looks like one long day of a real PBX with the event mix
of the real thing (VarSet, CEL, Newexten, ... about 126 events a recorded call, 190
a resident's call: the callback between them is the council's, not a resident's).

``build_stream(min_events, compact=True)`` plays the residents' calls only (answered
and abandoned in turn) and keeps only the events the translator makes a domain event
of (21 a call): what a PBX sends a reader that filters at the source, and the stream
on which per-event cost weighs most per call.  The banner comes first in both, so
every client under test sees the start of a session.

Run it directly to see the size and event mix:
    .venv/bin/python bench/_stream.py [min_events] [--compact]
"""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from callcentre.ami.fakeserver import rewrite_trace
from callcentre.ami.protocol import FrameParser

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
TRACE_NAMES = ("answered", "abandoned", "callback")
INBOUND = frozenset({"answered", "abandoned"})  # a resident's call each; "callback" is outbound
INBOUND_CONTEXTS = ("from-resident",)  # the context of the residents' calls in the recordings
REGION = "GB"
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
    name: str = "real"


def build_stream(min_events: int = 200_000, *, compact: bool = False) -> Stream:
    """Whole recorded calls, concatenated until at least ``min_events`` events."""
    names = sorted(INBOUND, key=TRACE_NAMES.index) if compact else list(TRACE_NAMES)
    traces = [(FIXTURES / f"{name}.ami").read_bytes() for name in names]
    if compact:
        traces = [_translated(raw) for raw in traces]
    parts = [BANNER]
    events = calls = inbound = 0
    at = START
    while events < min_events:
        which = calls % len(traces)
        frames = rewrite_trace(traces[which], rebase_to=at, id_offset=calls * IDS_PER_CALL)
        parts.extend(frame.data for frame in frames)
        events += len(frames)
        inbound += names[which] in INBOUND
        calls += 1
        at += frames[-1].offset + GAP
    return Stream(b"".join(parts), events, calls, inbound, "compact" if compact else "real")


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _translated(raw: bytes) -> bytes:
    """A trace of only the events the translator makes a domain event of."""
    from callcentre.ami.translate import Translator
    from callcentre.phones import normaliser

    translate = Translator(INBOUND_CONTEXTS, normaliser(REGION), _Clock())
    frames = rewrite_trace(raw)
    messages = FrameParser().feed(b"".join(frame.data for frame in frames))
    return BANNER + b"".join(frame.data for frame, message in zip(frames, messages, strict=True)
                             if translate(message) is not None)


def event_mix(data: bytes) -> collections.Counter[str]:
    parser = FrameParser()
    return collections.Counter(m.event or "?" for m in parser.feed(data))


def main() -> None:
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    wanted = int(numbers[0]) if numbers else 200_000
    started = time.perf_counter()
    stream = build_stream(wanted, compact="--compact" in sys.argv)
    took = time.perf_counter() - started
    print(
        f"{stream.name}: {stream.events} events in {stream.calls} calls"
        f" ({stream.inbound_calls} residents': {stream.events / stream.inbound_calls:.0f}"
        f" events a resident's call), {len(stream.data) / 2**20:.1f} MiB, built in {took:.1f}s"
    )
    for name, count in event_mix(stream.data).most_common(12):
        print(f"  {name:<24}{count:>8}  {count / stream.events:6.1%}")


if __name__ == "__main__":
    main()
