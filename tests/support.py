"""Helpers shared by tests: recorded traces, the translator, queue_log ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callcentre.ami.protocol import FrameParser, Message
from callcentre.ami.translate import Translator
from callcentre.domain import events as ev
from callcentre.domain.calls import Call, CallTracker
from callcentre.domain.hours import always_open
from callcentre.phones import normalise
from callcentre.testing import FakeClock

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
# answered, abandoned, callback: recorded with the lab of shared/asterisk-lab (context
# from-resident); timeout, abandoned_long: with tests/asterisk/capture.py from the project's
# own harness and dialplans/ (context council-inbound). Each has its queue_log beside it.
TRACES = ("answered", "abandoned", "callback", "timeout", "abandoned_long")
# from tests/asterisk/scenarios.py: every way of leaving a queue that queue_log names, and
# wait_loop: let out every 3 s to hear the estimated wait, back in at its place; wait_offer:
# told a long wait with a callback offer, key 1 back in the queue (#14)
EXIT_TRACES = ("exit_with_key", "exit_with_key_rejoin", "leave_empty", "transfer",
               "attended_transfer", "two_queues", "wait_loop", "wait_offer")
# survey: answered, the agent hangs up, the resident keys 1 and 4 (scenarios.survey, #15)
QUEUE_TRACES = ("answered", "abandoned", "timeout", "abandoned_long", *EXIT_TRACES, "survey")
LAB_INBOUND = ("from-resident", "council-inbound")  # residents' contexts in the recordings


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
        e = tr(msg)
        call = tracker.apply(e) if isinstance(e, ev.CallEvent) else None  # not callbacks' events
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


def expected_from_queue_log(entries: Sequence[Any]) -> dict[str, tuple[str, int]]:
    """Asterisk's own account, read independently of callcentre's ledger: callid ->
    (outcome, wait in whole seconds). A call that visited several queues (or rejoined one)
    waited from its first ENTERQUEUE until it was answered or left the last queue."""
    exits = {"ABANDON": "abandoned", "EXITWITHTIMEOUT": "timeout", "EXITEMPTY": "exit_empty",
             "EXITWITHKEY": "exit_with_key"}
    first: dict[str, Any] = {}
    visits: dict[str, int] = {}
    result: dict[str, tuple[str, int]] = {}
    for e in entries:
        if e.event == "ENTERQUEUE":
            first.setdefault(e.callid, e)
            visits[e.callid] = visits.get(e.callid, 0) + 1
            continue
        if e.event == "CONNECT":
            outcome, own_wait = "answered", int(e.data[0])
        elif e.event in exits:
            outcome, own_wait = exits[e.event], int(e.data[-1])
        else:
            continue
        if result.get(e.callid, ("",))[0] == "answered":
            continue
        wait = own_wait if visits.get(e.callid, 1) == 1 else int(
            _stamp(e) - _stamp(first[e.callid]))
        result[e.callid] = (outcome, wait)
    return result


def _stamp(entry: Any) -> float:
    """A queue_log line's time: the fixtures' lines (``at``) or the harness's (``time``)."""
    return entry.at.timestamp() if hasattr(entry, "at") else float(entry.time)


def ami_frame(event: str, **headers: object) -> bytes:
    lines = [f"Event: {event}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def earlier_today(now: float, back: float, tz: str = "Europe/London") -> float:
    """``now - back``, or just after the council's midnight when that is earlier: calls a test
    places there count in today's figures at any hour (at 00:02 five minutes ago is yesterday)."""
    midnight = datetime.fromtimestamp(now, ZoneInfo(tz)).replace(hour=0, minute=0, second=0,
                                                                   microsecond=0)
    return max(now - back, midnight.timestamp() + 1)


def synthetic_call(linkedid: str, start: float, wait: float, outcome: str,
                   queue: str = "council", number: str = "07700900123",
                   context: str = "from-resident") -> list[bytes]:
    """The AMI events of one queued call, as Asterisk sends them (fields that matter only):
    Newchannel and QueueCallerJoin first, then how it ended.

    ``outcome`` is answered, abandoned or timeout; ``wait`` is the time in queue.
    """
    chan = {"Channel": f"PJSIP/resident-{linkedid}", "Uniqueid": linkedid, "Linkedid": linkedid,
            "CallerIDNum": number, "CallerIDName": "Resident", "Context": context, "Exten": "1000"}
    joined, left = start + 0.5, start + 0.5 + wait
    frames = [ami_frame("Newchannel", Timestamp=f"{start:.6f}", **chan),
              ami_frame("QueueCallerJoin", Timestamp=f"{joined:.6f}", Queue=queue, Position=1,
                        Count=1, **chan)]
    if outcome == "answered":
        frames += [ami_frame("QueueCallerLeave", Timestamp=f"{left:.6f}", Queue=queue, **chan),
                   ami_frame("AgentConnect", Timestamp=f"{left:.6f}", Queue=queue,
                             Interface="PJSIP/agent1", MemberName="Agent One", **chan),
                   ami_frame("AgentComplete", Timestamp=f"{left + 30:.6f}", Queue=queue,
                             Interface="PJSIP/agent1", Reason="agent", **chan)]
        end = left + 30
    elif outcome == "abandoned":
        frames += [ami_frame("QueueCallerAbandon", Timestamp=f"{left:.6f}", Queue=queue,
                             Position=1, OriginalPosition=1, **chan),
                   ami_frame("QueueCallerLeave", Timestamp=f"{left:.6f}", Queue=queue, **chan)]
        end = left
    else:  # as tests/fixtures/ami/timeout.ami: app_queue records a timeout as an abandon too
        frames += [ami_frame("QueueCallerAbandon", Timestamp=f"{left:.6f}", Queue=queue,
                             Position=1, OriginalPosition=1, HoldTime=int(wait), **chan),
                   ami_frame("QueueCallerLeave", Timestamp=f"{left:.6f}", Queue=queue, **chan),
                   ami_frame("VarSet", Timestamp=f"{left:.6f}", Variable="QUEUESTATUS",
                             Value="TIMEOUT", **chan)]
        end = left + 1
    frames.append(ami_frame("Hangup", Timestamp=f"{end + 0.1:.6f}", Cause=16, **chan))
    return frames


# --- explicit hours for tests that run a whole service -----------------------------------
# A service under test never reads the packaged opening hours: those make a test's result
# depend on when it runs (closed evenings turn every call into an automatic callback that
# rings agent 1). Each such test writes its hours with ``policy_file``.
WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALWAYS = "\n".join(f'{day} = ["00:00-24:00"]' for day in WEEK)
NO_AUTOMATIC_CALLBACKS = "abandoned_after_seconds = 0\nout_of_hours = false"


def policy_text(callbacks: str = NO_AUTOMATIC_CALLBACKS, opening: str = ALWAYS,
                calling: str = ALWAYS) -> str:
    """A policy that is open (and callable) at every hour of every day, with no public
    holidays or closures, unless the test says otherwise."""
    return (f'timezone = "Europe/London"\n[opening_hours]\n{opening}\n'
            f'[holidays]\ncountry = ""\nclosures = []\n[callbacks]\n{callbacks}\n'
            f"[callbacks.calling_hours]\n{calling}\n")


def policy_file(directory: Path, callbacks: str = NO_AUTOMATIC_CALLBACKS) -> str:
    path = directory / "policy.toml"
    path.write_text(policy_text(callbacks), encoding="utf-8")
    return str(path)
