"""Helpers shared by tests: recorded traces, the translator, queue_log ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from callcentre.ami.protocol import FrameParser, Message
from callcentre.ami.translate import Translator
from callcentre.domain.calls import Call, CallTracker
from callcentre.domain.hours import always_open
from callcentre.phones import normalise
from callcentre.testing import FakeClock

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
TRACES = ("answered", "abandoned", "callback")
LAB_INBOUND = ("from-resident",)  # the context the recorded lab used for residents


def trace_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.ami").read_bytes()


def parse_all(data: bytes, chunks: list[bytes] | None = None) -> list[Message]:
    parser = FrameParser()
    out: list[Message] = []
    for chunk in chunks if chunks is not None else [data]:
        out.extend(parser.feed(chunk))
    return out


def translator(inbound: tuple[str, ...] = LAB_INBOUND) -> Translator:
    return Translator(inbound, lambda raw: normalise(raw, "GB"), FakeClock())


def fold(messages: list[Message], inbound: tuple[str, ...] = LAB_INBOUND) -> list[Call]:
    """Messages -> finished calls (and calls still in progress), via the real translator."""
    tr = translator(inbound)
    tracker = CallTracker(always_open(ZoneInfo("Europe/London")).is_open)
    finished = []
    for msg in messages:
        call = tracker.apply(e) if (e := tr(msg)) is not None else None
        if call is not None and call.finished:
            finished.append(call)
    return finished + tracker.active()


@dataclass(frozen=True)
class QueueLogEntry:
    at: datetime
    callid: str
    queue: str
    agent: str
    event: str
    data: list[str]


def queue_log(text: str) -> list[QueueLogEntry]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        out.append(QueueLogEntry(datetime.fromtimestamp(int(parts[0]), UTC), parts[1], parts[2],
                                 parts[3], parts[4], parts[5:]))
    return out


def expected_from_queue_log(entries: list[QueueLogEntry]) -> dict[str, tuple[str, int]]:
    """Asterisk's own account: callid -> (outcome, wait in whole seconds)."""
    result: dict[str, tuple[str, int]] = {}
    for e in entries:
        if e.event == "CONNECT":
            result[e.callid] = ("answered", int(e.data[0]))
        elif e.event == "ABANDON":
            result[e.callid] = ("abandoned", int(e.data[2]))
        elif e.event == "EXITWITHTIMEOUT":
            result[e.callid] = ("timeout", int(e.data[2]))
        elif e.event in ("EXITEMPTY", "EXITWITHKEY"):
            result.setdefault(e.callid, ("left_queue", int(e.data[-1]) if e.data else 0))
    return result
