"""The ledger service on fakes, and the queue_log tail on real files (rotation, restart)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.ports import LedgerPosition
from callcentre.services.ledger import LedgerService
from callcentre.storage.queue_log_file import QueueLogTail
from callcentre.testing import FakeClock, InMemoryCallRepository, InMemoryLedgerRepository
from tests.support import FIXTURES, fold, parse_all, trace_bytes
from tests.unit.test_ami_client import until

TZ = ZoneInfo("Europe/London")


def ledger(clock: FakeClock | None = None) -> tuple[LedgerService, InMemoryLedgerRepository]:
    repo = InMemoryLedgerRepository(InMemoryCallRepository())
    service = LedgerService(repo, clock or FakeClock(), lambda raw: raw and "+44" + raw[1:],
                            lambda at: True, grace=timedelta(seconds=30))
    return service, repo


def capture(name: str) -> list[str]:
    return (FIXTURES / f"{name}.queue_log").read_text().splitlines()


POS = LedgerPosition("queue_log", 1, 1, 0)


async def test_a_call_the_call_log_got_wrong_is_corrected_once_both_have_ended() -> None:
    service, repo = ledger()
    heard: list[tuple[Call | None, Call]] = []
    service.on_settled(lambda before, after: heard.append((before, after)))
    (call,) = fold(parse_all(trace_bytes("timeout")))
    wrong = replace(call, outcome=Outcome.ABANDONED, queue_status=None)
    await service.take(capture("timeout"), POS)
    assert heard == []  # queue_log has ended it; the call log has not recorded it yet
    (stored,) = await repo.calls.save([wrong])
    service.call_finished(stored)
    await service.settle_due()
    ((before, after),) = heard
    assert (before.outcome, after.outcome) == (Outcome.ABANDONED, Outcome.TIMEOUT)
    assert after.ledger == "outcome: abandoned -> timeout"
    assert (service.stats.corrected, service.stats.differences["outcome"]) == (1, 1)


async def test_a_call_that_agrees_is_marked_so_whichever_side_ends_first() -> None:
    service, repo = ledger()
    (call,) = fold(parse_all(trace_bytes("abandoned_long")))
    (stored,) = await repo.calls.save([call])
    service.call_finished(stored)
    await service.settle_due()  # no queue_log lines yet: nothing to settle
    assert (await repo.call_of(call.linkedid)).ledger is None  # type: ignore[union-attr]
    await service.take(capture("abandoned_long"), POS)
    assert (await repo.call_of(call.linkedid)).ledger == "agrees"  # type: ignore[union-attr]
    assert service.stats.agreed == 1


async def test_a_call_never_seen_is_recorded_from_queue_log_after_the_grace() -> None:
    clock = FakeClock()
    service, _ = ledger(clock)
    heard: list[tuple[Call | None, Call]] = []
    service.on_settled(lambda before, after: heard.append((before, after)))
    clock.set(FakeClock().now().replace(year=2026, month=12, day=1))
    await service.take(capture("timeout"), POS)
    assert await service.sweep() == 1  # the lines are from 2026-11: long past the grace
    ((before, after),) = heard
    assert before is None
    assert (after.outcome, after.caller, after.end_source, after.ledger) == (
        Outcome.TIMEOUT, "+447700900001", EndSource.LEDGER, "record: none -> queue_log")
    assert service.stats.created == 1
    assert await service.sweep() == 0


async def test_any_leader_settles_what_its_call_log_finished_and_one_sweeps() -> None:
    """Each PBX's leader settles the calls its call log finishes; creating the calls no call
    log saw is the sweep's, done by one instance only (the main PBX's leader: ``sweeps``)."""
    clock, sweeping = FakeClock(), [False]
    clock.set(clock.now().replace(year=2026, month=12, day=1))
    repo = InMemoryLedgerRepository(InMemoryCallRepository())
    service = LedgerService(repo, clock, lambda raw: raw, lambda at: True,
                            sweeps=lambda: sweeping[0])
    running = asyncio.create_task(service.run(sweep_every=0.01))
    try:
        (call,) = fold(parse_all(trace_bytes("abandoned_long")))
        await service.take(capture("abandoned_long") + capture("timeout"), POS)
        (stored,) = await repo.calls.save([call])
        service.call_finished(stored)
        await until(lambda: service.stats.agreed == 1)
        await asyncio.sleep(0.1)  # rounds of the loop, none sweeping: the timeout unseen
        assert service.stats.created == 0
        sweeping[0] = True
        await until(lambda: service.stats.created == 1)
    finally:
        running.cancel()


async def test_a_call_still_in_progress_in_the_call_log_waits_for_it() -> None:
    clock = FakeClock()
    service, repo = ledger(clock)
    clock.set(FakeClock().now().replace(year=2026, month=12, day=1))
    (call,) = fold(parse_all(trace_bytes("timeout")))
    await repo.calls.save([replace(call, outcome=None, ended_at=None)])
    await service.take(capture("timeout"), POS)
    assert await service.sweep() == 0


async def test_malformed_lines_are_counted_and_skipped_and_the_rest_kept() -> None:
    service, repo = ledger()
    await service.take(["garbage", "1|2|3", *capture("timeout")], POS)
    assert (service.stats.malformed, service.stats.lines) == (2, 10)
    assert len(repo.lines) == 2  # ENTERQUEUE and EXITWITHTIMEOUT; agents' lines are left out
    assert repo.positions["queue_log"] == POS


# ------------------------------------------------------------------------- the file tail
class Sink:
    def __init__(self, repo: InMemoryLedgerRepository) -> None:
        self.repo = repo
        self.lines: list[str] = []

    async def __call__(self, lines: list[str], position: LedgerPosition) -> None:
        self.lines.extend(lines)
        self.repo.positions[position.path] = position


def tail(path: Path, sink: Sink) -> QueueLogTail:
    return QueueLogTail(str(path), sink.repo.position, sink)


def write(path: Path, *lines: str, end: str = "\n") -> None:
    with path.open("a") as f:
        f.write("\n".join(lines) + end)


@pytest.fixture
def sink() -> Sink:
    return Sink(InMemoryLedgerRepository(InMemoryCallRepository()))


async def test_whole_lines_only_and_a_restart_resumes_where_reading_stopped(
        tmp_path: Path, sink: Sink) -> None:
    path = tmp_path / "queue_log"
    write(path, "0|z|q|NONE|ENTERQUEUE||1|1", "0|z|q|NONE|ABAN", end="")
    t = tail(path, sink)
    await t.poll_once()
    assert sink.lines == []  # the very first start begins after the last whole line
    write(path, "DON|1|1|0\n1|a|q|NONE|ENTERQUEUE||1|1", "2|a|q|NONE|ABAN", end="")
    await t.poll_once()
    assert sink.lines == ["0|z|q|NONE|ABANDON|1|1|0", "1|a|q|NONE|ENTERQUEUE||1|1"]
    write(path, "DON|1|1|1")
    await t.poll_once()
    assert sink.lines[-1] == "2|a|q|NONE|ABANDON|1|1|1"
    write(path, "3|b|q|NONE|ENTERQUEUE||2|1")
    restarted = tail(path, sink)  # a new process: only the position survives
    await restarted.poll_once()
    assert sink.lines[-1] == "3|b|q|NONE|ENTERQUEUE||2|1" and len(sink.lines) == 4
    assert restarted.stats.state == "reading"


async def test_a_rotation_while_running_reads_the_old_file_to_its_end(
        tmp_path: Path, sink: Sink) -> None:
    path = tmp_path / "queue_log"
    path.touch()
    t = tail(path, sink)
    await t.poll_once()
    write(path, "1|a|q|NONE|ENTERQUEUE||1|1")
    await t.poll_once()
    write(path, "2|a|q|NONE|ABANDON|1|1|1")  # written just before the rotation
    os.rename(path, tmp_path / "queue_log.1")
    write(path, "3|b|q|NONE|ENTERQUEUE||2|1")
    await t.poll_once()
    assert [s.split("|")[0] for s in sink.lines] == ["1", "2", "3"]
    assert t.stats.rotations == 1


async def test_a_rotation_while_stopped_is_resumed_from_the_rotated_file(
        tmp_path: Path, sink: Sink) -> None:
    path = tmp_path / "queue_log"
    path.touch()
    first = tail(path, sink)
    await first.poll_once()
    write(path, "1|a|q|NONE|ENTERQUEUE||1|1")
    await first.poll_once()
    write(path, "2|a|q|NONE|ABANDON|1|1|1")
    os.rename(path, tmp_path / "queue_log.2026-12-01")
    write(path, "3|b|q|NONE|ENTERQUEUE||2|1")
    t = tail(path, sink)
    await t.poll_once()
    assert [s.split("|")[0] for s in sink.lines] == ["1", "2", "3"]
    assert t.stats.resumed_rotated == 1


async def test_missing_then_truncated_files_are_said_and_survived(
        tmp_path: Path, sink: Sink) -> None:
    path = tmp_path / "queue_log"
    t = tail(path, sink)
    await t.poll_once()
    assert t.stats.state == "missing"
    write(path, "1|a|q|NONE|ENTERQUEUE||1|1", "2|a|q|NONE|ABANDON|1|1|1")
    await t.poll_once()
    assert t.stats.state == "reading" and len(sink.lines) == 2
    path.write_text("3|b|q|NONE|ENTERQUEUE||2|1\n")  # truncated in place, same inode
    await t.poll_once()
    assert sink.lines[-1].startswith("3|") and t.stats.truncations == 1


async def test_a_run_of_bytes_without_newline_is_skipped_not_held(
        tmp_path: Path, sink: Sink) -> None:
    path = tmp_path / "queue_log"
    path.touch()
    t = tail(path, sink)
    await t.poll_once()
    path.write_bytes(b"x" * (70 << 10) + b"\n1|a|q|NONE|ENTERQUEUE||1|1\n")
    await t.poll_once()
    assert sink.lines[-1] == "1|a|q|NONE|ENTERQUEUE||1|1"


async def test_lines_that_can_never_settle_a_call_are_given_up_once_stale() -> None:
    clock = FakeClock()
    service, repo = ledger(clock)
    lines = capture("timeout")
    enter = [t for t in lines if "ENTERQUEUE" in t]  # Asterisk stopped before the exit
    exit_only = [t.replace("1796069425.0", "mid-call") for t in lines if "EXITWITH" in t]
    await service.take(enter + exit_only, POS)
    last = max(line.at for line in repo.lines)
    clock.set(last + timedelta(hours=1))
    assert await service.sweep() == 0 and service.stats.given_up == 0  # may still end
    assert len(await repo.unsettled(clock.now(), 10)) == 2
    clock.set(last + timedelta(hours=13))
    assert await service.sweep() == 0 and service.stats.given_up == 2
    assert await repo.unsettled(clock.now(), 10) == []  # they no longer fill the batch


async def test_settling_again_keeps_what_was_corrected() -> None:
    service, repo = ledger()
    (call,) = fold(parse_all(trace_bytes("timeout")))
    (stored,) = await repo.calls.save([replace(call, outcome=Outcome.ABANDONED,
                                               queue_status=None)])
    await service.take(capture("timeout"), POS)
    service.call_finished(stored)
    await service.settle_due()
    service.call_finished(stored)  # the call log says so again: settled a second time
    await service.settle_due()
    again = await repo.call_of(call.linkedid)
    assert again is not None and again.ledger == "outcome: abandoned -> timeout"
