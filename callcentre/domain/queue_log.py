"""Asterisk's queue_log as the ledger of truth for queue calls. Pure: no I/O, no clock.

app_queue writes one line per queue happening: ``time|callid|queue|agent|event|data...``.
``callid`` is the caller channel's Uniqueid, which is the Linkedid callcentre keys an
inbound call by. The lines of one callid fold into ``Stint``s, one per visit to a queue,
and the stints into a ``LedgerCall``: the outcome, wait and talk time that auditors and
tools such as QueueMetrics read from the same file. ``reconcile`` holds a call record
built from AMI events against it and says where they disagree.

Field layouts (app_queue, Asterisk 22), after the five fixed fields:
ENTERQUEUE url|callerid|position; CONNECT holdtime|member uniqueid|ringtime;
COMPLETEAGENT/COMPLETECALLER holdtime|talktime|origposition; ABANDON, EXITEMPTY and
EXITWITHTIMEOUT position|origposition|waittime; EXITWITHKEY key|position|origposition|
waittime; BLINDTRANSFER extension|context|holdtime|talktime|origposition;
ATTENDEDTRANSFER method|...|holdtime|talktime|origposition (the last three always).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from callcentre.domain.calls import Call, EndSource, Outcome

# How a visit to a queue ended, named as queue_log names it, and the call outcome it gives.
EXITS: dict[str, Outcome] = {
    "CONNECT": Outcome.ANSWERED,
    "ABANDON": Outcome.ABANDONED,
    "EXITWITHTIMEOUT": Outcome.TIMEOUT,
    "EXITWITHKEY": Outcome.EXIT_WITH_KEY,
    "EXITEMPTY": Outcome.EXIT_EMPTY,
}
TALK_ENDS = frozenset({"COMPLETEAGENT", "COMPLETECALLER", "BLINDTRANSFER",
                       "ATTENDEDTRANSFER", "TRANSFER"})
CALL_EVENTS = frozenset({"ENTERQUEUE", "RINGNOANSWER", "RINGCANCELED", *EXITS, *TALK_ENDS})
# queue_log stamps are whole seconds (time()); an AMI time within this of the ledger agrees
TOLERANCE = timedelta(seconds=1.5)
WAIT_SLACK = 1.0  # queue_log's whole-second wait is within this of the true one
_LARGEST = 2**31  # a count or a number of seconds no real line holds


class QueueLogError(ValueError):
    """A line that is not a queue_log line (kept out of the ledger, counted)."""


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    at: datetime
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    @property
    def about_a_call(self) -> bool:
        return self.event in CALL_EVENTS and self.callid not in ("", "NONE", "CLI")

    def number(self, index: int) -> int | None:
        """The data field at ``index`` (negative counts from the end) as a count, or None."""
        try:
            value = int(self.data[index])
        except (IndexError, ValueError):
            return None
        return value if 0 <= value < _LARGEST else None


def parse_line(text: str) -> QueueLogLine:
    fields = text.rstrip("\r\n").split("|")
    if len(fields) < 5:
        raise QueueLogError(f"{len(fields)} fields, expected at least 5")
    stamp, callid, queue, agent, event, *data = fields
    try:
        seconds = float(stamp)
    except ValueError:
        raise QueueLogError(f"time {stamp[:20]!r} is not a number") from None
    if not 0 <= seconds < 253402300800:  # up to the end of year 9999
        raise QueueLogError(f"time {stamp[:20]!r} out of range")
    if not event or not event.replace("_", "").isalnum():
        raise QueueLogError(f"event {event[:20]!r} is not a name")
    return QueueLogLine(datetime.fromtimestamp(int(seconds), UTC), callid, queue, agent,
                        event, tuple(data))


@dataclass(frozen=True, slots=True)
class Stint:
    """One visit to one queue."""

    queue: str
    entered_at: datetime
    position: int | None = None
    exit: str | None = None  # CONNECT, ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY
    left_at: datetime | None = None  # when it stopped waiting (answered or left)
    wait_seconds: int | None = None  # queue_log's own holdtime/waittime
    agent: str | None = None
    key: str | None = None  # EXITWITHKEY's digit
    talk_ended_at: datetime | None = None
    talk_end: str | None = None  # COMPLETEAGENT, COMPLETECALLER, BLINDTRANSFER ...
    talk_seconds: int | None = None

    @property
    def ended(self) -> bool:
        if self.exit is None:
            return False
        return self.exit != "CONNECT" or self.talk_end is not None

    @property
    def transferred(self) -> bool:
        return self.talk_end is not None and self.talk_end.endswith("TRANSFER")


def _apply(stints: list[Stint], line: QueueLogLine) -> None:
    if line.event == "ENTERQUEUE":
        stints.append(Stint(line.queue, line.at, line.number(2)))
        return
    index = _open_stint(stints, line)
    if index is None:
        return  # an exit with no visit seen (the file began mid-call): nothing to fold into
    stint = stints[index]
    if line.event in EXITS and stint.exit is None:
        stints[index] = replace(
            stint, exit=line.event, left_at=line.at,
            wait_seconds=line.number(0) if line.event == "CONNECT" else line.number(-1),
            agent=line.agent if line.event == "CONNECT" else None,
            key=line.data[0] if line.event == "EXITWITHKEY" and line.data else None)
    elif line.event in TALK_ENDS and stint.exit == "CONNECT" and stint.talk_end is None:
        stints[index] = replace(stint, talk_end=line.event, talk_ended_at=line.at,
                                talk_seconds=line.number(-2))


def _open_stint(stints: list[Stint], line: QueueLogLine) -> int | None:
    for index in range(len(stints) - 1, -1, -1):
        if stints[index].queue == line.queue and not stints[index].ended:
            return index
    return None


@dataclass(frozen=True, slots=True)
class LedgerCall:
    """What queue_log says about one call: its visits to queues, in order."""

    callid: str
    stints: tuple[Stint, ...]
    caller: str | None = None  # ENTERQUEUE's caller ID, as Asterisk had it

    @property
    def complete(self) -> bool:
        return bool(self.stints) and all(s.ended for s in self.stints)

    @property
    def deciding(self) -> Stint:
        """The stint that settles the outcome: the answered one, else the last."""
        return next((s for s in self.stints if s.exit == "CONNECT"), self.stints[-1])

    @property
    def outcome(self) -> Outcome | None:
        exit_ = self.deciding.exit if self.stints else None
        return None if exit_ is None else EXITS[exit_]

    @property
    def wait_seconds(self) -> int | None:
        """From the first ENTERQUEUE to the answer or the last exit (whole seconds)."""
        if not self.stints or self.deciding.left_at is None:
            return None
        if len(self.stints) == 1 and self.stints[0].wait_seconds is not None:
            return self.stints[0].wait_seconds
        return int((self.deciding.left_at - self.stints[0].entered_at).total_seconds())


def fold(callid: str, lines: list[QueueLogLine]) -> LedgerCall:
    """The ledger's account of ``callid`` from its lines (in file order)."""
    stints: list[Stint] = []
    caller = None
    for line in lines:
        if line.callid != callid or not line.about_a_call:
            continue
        if line.event == "ENTERQUEUE" and caller is None and len(line.data) > 1:
            caller = line.data[1] or None
        _apply(stints, line)
    return LedgerCall(callid, tuple(stints), caller)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    call: Call
    differences: dict[str, tuple[str, str]]  # field -> (the call log said, queue_log says)
    created: bool = False  # the call log had no record of this call


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def _close(ami: datetime | None, ledger: datetime | None) -> bool:
    return ami is not None and ledger is not None and abs(ami - ledger) <= TOLERANCE


def reconcile(call: Call | None, ledger: LedgerCall) -> Reconciliation:
    """``call`` (the AMI record, or None if the call log never saw it) settled by the ledger.

    queue_log decides the outcome, the queue, and any time the AMI record lacks or has
    wrong by more than ``TOLERANCE``; AMI's exact times are kept where they agree.
    """
    if not ledger.stints or ledger.outcome is None:
        raise ValueError(f"queue_log has not settled call {ledger.callid}")
    base = call or Call(linkedid=ledger.callid, channel="", arrived_at=ledger.stints[0].entered_at,
                        caller_raw=ledger.caller)
    fixed = _settled(base, ledger)
    if call is None:
        return Reconciliation(fixed, {"record": ("none", "queue_log")}, created=True)
    return Reconciliation(fixed, _differences(call, fixed))


def _settled(call: Call, ledger: LedgerCall) -> Call:
    first, deciding = ledger.stints[0], ledger.deciding
    outcome = ledger.outcome
    answered = outcome is Outcome.ANSWERED
    fixed = replace(
        call, outcome=outcome, queue=first.queue,
        queued_at=_kept(call.queued_at, first.entered_at), join_position=call.join_position
        or first.position,
        queue_status=_STATUS.get(deciding.exit or "", call.queue_status) if not answered
        else call.queue_status)
    if answered:
        fixed = replace(fixed, answered_at=_kept(call.answered_at, deciding.left_at),
                        agent_name=call.agent_name or deciding.agent,
                        talk_ended_at=_kept(call.talk_ended_at, deciding.talk_ended_at))
    else:
        fixed = replace(fixed, answered_at=None, agent_interface=None, agent_name=None,
                        left_queue_at=_kept(call.left_queue_at, deciding.left_at))
    fixed = _wait_as_ledger(fixed, ledger.wait_seconds)
    if fixed.ended_at is None:
        fixed = replace(fixed, ended_at=_last_line_at(ledger), end_source=EndSource.LEDGER)
    return fixed


_STATUS = {"EXITWITHTIMEOUT": "TIMEOUT", "EXITEMPTY": "LEAVEEMPTY"}


def _kept(ami: datetime | None, ledger: datetime | None) -> datetime | None:
    return ami if ledger is None or _close(ami, ledger) else ledger


def _wait_as_ledger(call: Call, wait: int | None) -> Call:
    """Move the join so the wait is within a second of queue_log's. queue_log's waits are
    differences of whole-second time() readings, so the true wait is within a second of
    them; a wait further off (the times each kept separately can still add up to one) is
    moved to the nearest value both records allow."""
    end = call.answered_at or call.left_queue_at
    if wait is None or end is None or call.wait_seconds is None:
        return call
    allowed = min(max(call.wait_seconds, wait - WAIT_SLACK), wait + WAIT_SLACK)
    if allowed == call.wait_seconds:
        return call
    return replace(call, queued_at=end - timedelta(seconds=allowed))


def _last_line_at(ledger: LedgerCall) -> datetime:
    times = [t for s in ledger.stints for t in (s.entered_at, s.left_at, s.talk_ended_at) if t]
    return max(times)


def _differences(was: Call, now: Call) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name in ("outcome", "queue", "agent_name"):
        if getattr(was, name) != getattr(now, name):
            found[name] = (_text(getattr(was, name)), _text(getattr(now, name)))
    for name in ("wait_seconds", "talk_seconds"):
        before, after = getattr(was, name), getattr(now, name)
        if (before is None) != (after is None) or (
                before is not None and abs(before - after) > TOLERANCE.total_seconds()):
            found[name.removesuffix("_seconds")] = (_text(before), _text(after))
    return found
