"""Any header value, any queue_log line: no worker dies and no good call is lost.

Hypothesis takes real sessions captured from the project's harness and rewrites headers
of their events with arbitrary values (control characters, huge numbers, years 1 and
9999, empty, missing), or feeds arbitrary queue_log text. Whatever it finds, the
translator, the call tracker, the call-log writer and the ledger go on, and a clean
real call afterwards is still recorded.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcentre.ami.message import Message
from callcentre.domain import events as ev
from callcentre.domain.calls import CallTracker, Outcome
from callcentre.domain.hours import always_open
from callcentre.domain.queue_log import QueueLogError, parse_line
from callcentre.ports import CallQuery, LedgerPosition
from callcentre.services.calllog import CallLogService
from callcentre.services.ledger import LedgerService
from callcentre.testing import (
    FakeClock,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    InMemoryLedgerRepository,
)
from tests.support import FIXTURES, parse_all, trace_bytes, translator

TZ = ZoneInfo("Europe/London")
SESSIONS = [parse_all(trace_bytes(name)) for name in ("timeout", "two_queues", "leave_empty")]
CLEAN = parse_all(trace_bytes("answered_resync"))
HEADERS = ("Uniqueid", "Linkedid", "Timestamp", "Position", "OriginalPosition", "HoldTime",
           "Queue", "Context", "CallerIDNum", "Value", "Variable", "Cause", "Privilege",
           "Channel", "Event", "UserEvent", "ChanVariable")
NASTY = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", "-1", "0", "9" * 40, "1e309", "nan", "0001-01-01", "99999999999.5",
                     "\x00", "line\r\nInjected: 1", "\ud800".encode("utf-8", "replace")
                     .decode(), "None", "council\x1b[2J"]),
)
EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(HEADERS),
                           st.one_of(st.none(), NASTY)), max_size=25)


def rewrite(messages: list[Message], edits: list[tuple[int, str, str | None]]) -> list[Message]:
    """Each edit sets (or, with None, removes) a header of one of the events the translator
    reads (the others it ignores whatever they hold)."""
    out = [list(m.items()) for m in messages]
    read = [i for i, m in enumerate(messages) if m.event in translator().EVENTS]
    for index, key, value in edits:
        at = read[index % len(read)]
        kept = [(k, v) for k, v in out[at] if k != key]
        out[at] = kept if value is None else [*kept, (key, value)]
    return [Message(h) for h in out]


async def record(messages: list[Message]) -> tuple[CallLogService, InMemoryCallRepository]:
    calls = InMemoryCallRepository()
    log = CallLogService(CallTracker(always_open(TZ).is_open), calls, InMemoryCaseRepository(),
                         timedelta(days=7), retry_delay=0.001)
    tr = translator()
    for message in messages:
        event = tr(message)  # a malformed event is counted by the translator, not raised
        if isinstance(event, ev.CallEvent):
            log.handle(event)
    await log.flush()
    return log, calls


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=st.sampled_from(SESSIONS), edits=EDITS)
def test_any_header_value_never_stops_the_call_log(session: list[Message],
                                                   edits: list[tuple[int, str, str | None]]
                                                   ) -> None:
    async def run() -> None:
        log, calls = await record(rewrite(session, edits) + CLEAN)
        page = await calls.find(CallQuery(limit=500))
        clean = [c for c in page.items if c.linkedid == "1796072897.0"]
        assert [c.outcome for c in clean] == [Outcome.ANSWERED]  # the next real call
        assert not log._dirty  # everything accepted was written or set aside

    asyncio.run(run())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_queue_log_line_or_refused_with_a_reason(text: str) -> None:
    try:
        line = parse_line(text)
    except QueueLogError as err:
        assert str(err)  # the reason, for the log
        return
    assert line.at.tzinfo is not None and line.event.replace("_", "").isalnum()


@settings(max_examples=100, deadline=None)
@given(noise=st.lists(st.text(max_size=80), max_size=20))
def test_the_ledger_keeps_going_through_any_lines(noise: list[str]) -> None:
    async def run() -> None:
        calls = InMemoryCallRepository()
        repo = InMemoryLedgerRepository(calls)
        ledger = LedgerService(repo, FakeClock(), lambda raw: raw, lambda at: True)
        real = (FIXTURES / "timeout.queue_log").read_text().splitlines()
        await ledger.take([*noise, *real], LedgerPosition("q", 1, 1, 1))
        assert ledger.stats.lines == len(noise) + len(real)
        assert any(line.event == "EXITWITHTIMEOUT" for line in repo.lines)

    asyncio.run(run())
