"""The call log service on the in-memory fakes: enrichment, write-behind, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain import events as ev
from callcentre.domain.calls import Call, CallTracker, CaseLink, EndSource, Outcome
from callcentre.domain.cases import Case, new_case
from callcentre.domain.hours import always_open
from callcentre.errors import StorageError
from callcentre.ports import CallQuery
from callcentre.services.calllog import CallLogService
from callcentre.testing import InMemoryCallRepository, InMemoryCaseRepository, utc

T0 = utc(2026, 11, 23, 10, 0)
NUMBER = "+447700900123"


def details(number: str | None = NUMBER, ref: str | None = None) -> ev.CallerDetails:
    return ev.CallerDetails("PJSIP/resident-1", number, number, None, "1000", ref)


def a_call(lid: str, start: float, number: str | None = NUMBER, ref: str | None = None,
           outcome_hangup: bool = True) -> list[ev.CallEvent]:
    t = T0 + timedelta(seconds=start)
    out: list[ev.CallEvent] = [ev.CallArrived(lid, t, details(number, ref)),
                               ev.QueueJoined(lid, t + timedelta(seconds=1), "council", 1, details(number))]
    if outcome_hangup:
        out.append(ev.CallerHungUp(lid, t + timedelta(seconds=9), 16))
    return out


class FlakyCalls(InMemoryCallRepository):
    """Fails the first ``failures`` saves, like a locked or full disk would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def save(self, calls: Sequence[Call]) -> list[Call]:
        if self.failures:
            self.failures -= 1
            raise StorageError("disk I/O error")
        return await super().save(calls)


def service(calls: InMemoryCallRepository | None = None,
            cases: InMemoryCaseRepository | None = None) -> CallLogService:
    tracker = CallTracker(always_open(ZoneInfo("Europe/London")).is_open)
    return CallLogService(tracker, calls or InMemoryCallRepository(), cases or InMemoryCaseRepository(),
                          timedelta(days=7), retry_delay=0.01)


async def feed(svc: CallLogService, events: list[ev.CallEvent]) -> None:
    for e in events:
        svc.handle(e)
    await svc.flush()


async def test_repeat_contact_within_the_window_only() -> None:
    calls = InMemoryCallRepository()
    svc = service(calls)
    await feed(svc, a_call("1.0", 0))
    await feed(svc, a_call("2.0", 3600))
    await feed(svc, a_call("3.0", 8 * 86400))  # more than 7 days after call 2
    await feed(svc, a_call("4.0", 8 * 86400 + 60, number="+441632960001"))
    by_lid = {c.linkedid: c for c in (await calls.unfinished()) + [await calls.get(i) for i in (1, 2, 3, 4)]}
    assert by_lid["1.0"].repeat_of is None
    assert by_lid["2.0"].repeat_of == by_lid["1.0"].id
    assert by_lid["3.0"].repeat_of is None
    assert by_lid["4.0"].repeat_of is None


async def test_keyed_case_beats_number_match_and_unknown_keyed_falls_back() -> None:
    cases = InMemoryCaseRepository()
    await cases.add(new_case("BIN-42", "Missed bin", None, T0 - timedelta(days=3)))
    await cases.add(new_case("TAX-7", "Council tax", NUMBER, T0 - timedelta(days=1)))
    calls = InMemoryCallRepository()
    svc = service(calls, cases)
    await feed(svc, a_call("1.0", 0, ref="BIN-42"))
    await feed(svc, a_call("2.0", 60, ref="NOPE-1"))
    await feed(svc, a_call("3.0", 120, number=None))
    one, two, three = [await calls.get(i) for i in (1, 2, 3)]
    assert (one.case_ref, one.case_link) == ("BIN-42", CaseLink.KEYED)
    assert (two.case_ref, two.case_link, two.keyed_case_ref) == ("TAX-7", CaseLink.NUMBER, "NOPE-1")
    assert three.case_ref is None


async def test_case_ref_keyed_after_arrival_relinks() -> None:
    cases = InMemoryCaseRepository()
    await cases.add(new_case("BIN-42", "Missed bin", None, T0))
    calls = InMemoryCallRepository()
    svc = service(calls, cases)
    events = a_call("1.0", 0, outcome_hangup=False)
    await feed(svc, events)
    await feed(svc, [ev.CaseRefKeyed("1.0", T0 + timedelta(seconds=4), "BIN-42"),
                     ev.CallerHungUp("1.0", T0 + timedelta(seconds=9), 16)])
    call = await calls.get(1)
    assert call.finished and (call.case_ref, call.case_link) == ("BIN-42", CaseLink.KEYED)


async def test_a_failing_database_loses_nothing() -> None:
    calls = FlakyCalls(failures=3)
    svc = service(calls)
    for e in a_call("1.0", 0):
        svc.handle(e)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if calls.failures == 0 and not await calls.unfinished() and svc.stats.calls_written:
            break
    await svc.flush()
    call = await calls.get(1)
    assert call.outcome is Outcome.ABANDONED  # caller hung up while still queued
    assert svc.stats.write_failures == 3


async def test_recover_after_restart_then_finish() -> None:
    calls = InMemoryCallRepository()
    first = service(calls)
    await feed(first, a_call("1.0", 0, outcome_hangup=False))
    second = service(calls)  # the process was killed and started again
    assert await second.recover() == 1
    await feed(second, [ev.AgentAnswered("1.0", T0 + timedelta(seconds=5), "council", "PJSIP/agent1", None),
                        ev.CallerHungUp("1.0", T0 + timedelta(seconds=30), 16)])
    call = await calls.get(1)
    assert call.outcome is Outcome.ANSWERED and call.wait_seconds == 4.0


async def test_reconcile_closes_lost_and_adopts_live_calls() -> None:
    calls = InMemoryCallRepository()
    svc = service(calls)
    await feed(svc, a_call("1.0", 0, outcome_hangup=False) + a_call("2.0", 5, outcome_hangup=False))
    live = Call(linkedid="3.0", channel="PJSIP/resident-3", arrived_at=T0, caller=NUMBER)
    closed = svc.reconcile(["1.0", "2.0"], ["2.0", "3.0"], [live])
    await svc.flush()
    assert [c.linkedid for c in closed] == ["1.0"]
    lost = await calls.get(1)
    assert lost.outcome is Outcome.UNKNOWN and lost.end_source is EndSource.RECONCILED
    assert sorted(c.linkedid for c in svc.tracker.active()) == ["2.0", "3.0"]
    assert svc.stats.adopted == 1


async def test_resync_fills_in_a_queue_join_that_was_never_stored() -> None:
    """Killed after storing the arrival but before the join: the restarted service learns
    from QueueStatus that the resident is queued (and since when), so the abandon that
    follows has its wait, not none."""
    calls = InMemoryCallRepository()
    first = service(calls)
    await feed(first, [ev.CallArrived("1.0", T0, details())])
    second = service(calls)
    assert await second.recover() == 1
    live = Call(linkedid="1.0", channel="PJSIP/resident-1", arrived_at=T0, caller=NUMBER,
                queue="council", queued_at=T0 + timedelta(seconds=1), join_position=2)
    assert second.reconcile(["1.0"], ["1.0"], [live]) == []
    await feed(second, [ev.CallerAbandoned("1.0", T0 + timedelta(seconds=9), "council", 1, 2),
                        ev.CallerHungUp("1.0", T0 + timedelta(seconds=9), 16)])
    call = await calls.get(1)
    assert call.outcome is Outcome.ABANDONED and call.wait_seconds == 8.0
    assert call.queue == "council" and call.join_position == 2
    assert second.tracker.refresh(live) is None  # finished: nothing to fill in


class PoisonedCalls(InMemoryCallRepository):
    """Cannot store one call (as SQLite cannot a 30-digit integer): not a database error."""

    async def save(self, calls: Sequence[Call]) -> list[Call]:
        if any(c.linkedid == "2.0" for c in calls):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return await super().save(calls)


async def test_a_call_that_cannot_be_stored_never_stops_the_call_log() -> None:
    """One bad value ended the writer for good: no call was saved after it, not even
    after a reconnect. Now that call is set aside (counted, logged) and the rest go on."""
    calls = PoisonedCalls()
    svc = service(calls)
    await feed(svc, a_call("1.0", 0) + a_call("2.0", 1) + a_call("3.0", 2))
    await feed(svc, a_call("4.0", 20))
    saved = {c.linkedid for c in (await calls.find(CallQuery(limit=50))).items}
    assert saved == {"1.0", "3.0", "4.0"}
    assert svc.stats.set_aside == 1 and svc.stats.write_failures >= 1
    await feed(svc, [ev.CallerHungUp("2.0", T0 + timedelta(seconds=40), 16)])  # its later events
    assert svc.stats.set_aside == 1


async def test_a_failing_listener_is_isolated() -> None:
    svc = service()
    seen: list[Call] = []

    def broken(call: Call) -> None:
        raise RuntimeError("boom")

    svc.on_finished(broken)
    svc.on_finished(seen.append)
    await feed(svc, a_call("1.0", 0))
    assert [c.linkedid for c in seen] == ["1.0"] and svc.stats.listener_errors == 1


async def test_agent_link_is_not_overwritten_by_later_events() -> None:
    calls = InMemoryCallRepository()
    svc = service(calls)
    await feed(svc, a_call("1.0", 0, outcome_hangup=False))
    stored = await calls.link_case(1, "HOUSING-9", CaseLink.AGENT)
    svc.tracker.enrich(stored)
    await feed(svc, [ev.CallerHungUp("1.0", T0 + timedelta(seconds=9), 16)])
    call = await calls.get(1)
    assert (call.case_ref, call.case_link) == ("HOUSING-9", CaseLink.AGENT)


@pytest.mark.parametrize("n", [1, 50])
async def test_burst_is_written_in_few_transactions(n: int) -> None:
    svc = service()
    for i in range(n):
        for e in a_call(f"{i}.0", i):
            svc.handle(e)
    await svc.flush()
    assert svc.stats.finished == {"abandoned": n}
    assert svc.stats.flushes <= 3


class CountingCases(InMemoryCaseRepository):
    """Counts the batch reads; fails the first ``failures`` keyed-reference reads."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.failures = failures
        self.reads: list[str] = []

    async def get_each(self, refs: Collection[str]) -> dict[str, Case]:
        self.reads.append("get_each")
        if self.failures:
            self.failures -= 1
            raise StorageError("database is locked")
        return await super().get_each(refs)

    async def latest_open_for_each(self, phones: Collection[str]) -> dict[str, Case]:
        self.reads.append("latest_open_for_each")
        return await super().latest_open_for_each(phones)


async def test_a_burst_is_enriched_in_a_few_reads_with_the_same_links() -> None:
    cases = CountingCases()
    await cases.add(new_case("BIN-42", "Missed bin", None, T0))
    await cases.add(new_case("TAX-7", "Council tax", NUMBER, T0))
    calls = InMemoryCallRepository()
    await calls.save([Call(linkedid="0.0", channel="c", arrived_at=T0, caller=NUMBER)])
    svc = service(calls, cases)
    for i in range(1, 41):
        for e in a_call(f"{i}.0", 60 * i, ref="BIN-42" if i % 2 else "NOPE-1"):
            svc.handle(e)
    await svc.flush()
    stored = [await calls.get(i) for i in range(2, 42)]
    assert {(c.case_ref, c.case_link) for c in stored[::2]} == {("BIN-42", CaseLink.KEYED)}
    assert {(c.case_ref, c.case_link) for c in stored[1::2]} == {("TAX-7", CaseLink.NUMBER)}
    assert {c.repeat_of for c in stored} == {1}  # the calls of one batch are saved together
    assert len(cases.reads) <= 2 * svc.stats.flushes <= 6


async def test_a_failed_case_read_is_tried_again() -> None:
    cases = CountingCases(failures=1)
    await cases.add(new_case("BIN-42", "Missed bin", None, T0))
    calls = InMemoryCallRepository()
    svc = service(calls, cases)
    for e in a_call("1.0", 0, ref="BIN-42"):
        svc.handle(e)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if svc.stats.calls_written:
            break
    await svc.flush()
    call = await calls.get(1)
    assert (call.case_ref, call.case_link) == ("BIN-42", CaseLink.KEYED)
    assert svc.stats.write_failures == 1


def test_replace_keeps_frozen_calls_immutable() -> None:
    call = Call(linkedid="1", channel="c", arrived_at=T0)
    with pytest.raises(AttributeError):
        call.queue = "x"  # type: ignore[misc]
    assert replace(call, queue="x").queue == "x"


async def test_resync_events_close_only_calls_open_when_it_started() -> None:
    from callcentre.domain.resync import Resynced, ResyncStarted

    calls = InMemoryCallRepository()
    svc = service(calls)
    await feed(svc, a_call("1.0", 0, outcome_hangup=False))
    svc.resync_started(ResyncStarted(T0))
    await feed(svc, a_call("2.0", 5, outcome_hangup=False))  # arrived while Asterisk was asked
    svc.resynced(Resynced(T0, 0, frozenset(), frozenset(), (), ()))
    await svc.flush()
    assert [c.linkedid for c in svc.tracker.active()] == ["2.0"]
    assert (await calls.get(1)).end_source is EndSource.RECONCILED
