"""Catch-up after an outage: queue_log lines of many calls settled against the call log.

The situation: callcentre was away (AMI cut, or the process down) while Asterisk kept
writing queue_log. The call log holds every call, some with a wrong outcome, and the
ledger has the whole file to read. Measured, on a temporary SQLite file:

  ledger catch-up     QueueLogTail reads the file from where it stopped -> LedgerService
                      keeps the lines and settles every call (fold, reconcile, write) ->
                      the day's standards figures recomputed: "figures right again"
  live AMI path       for reference, the recorded real calls (bench/_stream.py) through
                      FrameParser -> Translator -> subscription table -> CallLogService ->
                      SQLite, as the service records calls live

Printed: calls/s of each (best and median of ``--runs``), the time until the figures
are right again, and the ratio catch-up / live AMI path in calls/s.

    .venv/bin/python bench/ledger_catchup.py [--calls N] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.services.ledger import LedgerService
from callcentre.storage.call_repository import SqliteCallRepository
from callcentre.storage.db import Database
from callcentre.storage.ledger_repository import SqliteLedgerRepository
from callcentre.storage.queue_log_file import QueueLogTail
from callcentre.storage.standards_repository import SqliteStandardsRepository

TZ = ZoneInfo("Europe/London")
DAY_START = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
WRONG_SHARE = 0.05  # calls the call log got wrong while it could not see Asterisk


class Clock:
    def now(self) -> datetime:
        return DAY_START + timedelta(days=2)  # every call is long past the grace


def day_of_calls(n: int, seed: int = 1) -> tuple[list[Call], list[str]]:
    """``n`` finished calls as the call log has them, and queue_log's lines for them."""
    rng = random.Random(seed)
    calls, lines = [], []
    for i in range(n):
        callid = f"{1_800_000_000 + i}.{i}"
        enter = DAY_START + timedelta(seconds=i * 3)
        wait = rng.randint(1, 120)
        t0, t1 = int(enter.timestamp()), int(enter.timestamp()) + wait
        lines.append(f"{t0}|{callid}|council|NONE|ENTERQUEUE||07700900{i % 1000:03d}|1")
        answered = rng.random() < 0.8
        talk = rng.randint(30, 600) if answered else 0
        if answered:
            lines += [f"{t1}|{callid}|council|Agent 1|CONNECT|{wait}|{callid}1|2",
                      f"{t1 + talk}|{callid}|council|Agent 1|COMPLETEAGENT|{wait}|{talk}|1"]
            outcome = Outcome.ANSWERED
        else:
            lines.append(f"{t1}|{callid}|council|NONE|ABANDON|1|1|{wait}")
            outcome = Outcome.ABANDONED
        logged = outcome
        if rng.random() < WRONG_SHARE:  # what an unseen answer used to look like
            logged = Outcome.UNKNOWN if answered else Outcome.ABANDONED
        left = enter + timedelta(seconds=wait)
        calls.append(Call(
            linkedid=callid, channel=f"PJSIP/resident-{i}", arrived_at=enter, queue="council",
            queued_at=enter, answered_at=left if logged is Outcome.ANSWERED else None,
            left_queue_at=left, ended_at=left + timedelta(seconds=talk + 1), outcome=logged,
            talk_ended_at=left + timedelta(seconds=talk) if answered else None,
            end_source=EndSource.HANGUP, caller=f"+447700900{i % 1000:03d}",
            agent_name="Agent 1" if logged is Outcome.ANSWERED else None))
    return calls, lines


async def catch_up(n: int, tmp: Path) -> dict[str, float]:
    calls, lines = day_of_calls(n)
    db = Database(tmp / "catchup.sqlite3")
    await db.open()
    await db.migrate()
    await SqliteCallRepository(db).save(calls)
    log = tmp / "queue_log"
    log.write_text("\n".join(lines) + "\n")
    ledger_repo = SqliteLedgerRepository(db)
    st = log.stat()  # where reading stopped before the outage: the file's start
    async with db.write() as conn:
        await conn.execute("INSERT INTO ledger_sources VALUES (?, ?, ?, 0, 0)",
                           (str(log), st.st_dev, st.st_ino))
    service = LedgerService(ledger_repo, Clock(), lambda raw: raw, lambda at: True)
    tail = QueueLogTail(str(log), ledger_repo.position, service.take)
    started = time.perf_counter()
    await tail.poll_once()
    await service.sweep()
    figures = await SqliteStandardsRepository(db).figures(DAY_START, DAY_START + timedelta(1),
                                                          None)
    seconds = time.perf_counter() - started
    counts = await ledger_repo.counts()
    await db.close()
    assert counts.settled == n and figures.checked == n, (counts, figures.checked)
    assert service.stats.corrected == counts.corrected > 0
    return {"calls": n, "seconds": seconds, "corrected": counts.corrected,
            "lines": len(lines)}


async def live_ami(min_events: int, tmp: Path) -> dict[str, float]:
    from _stream import build_stream

    from callcentre.ami.protocol import FrameParser
    from callcentre.ami.resync import AmiEvents
    from callcentre.ami.translate import Translator
    from callcentre.domain.calls import CallTracker
    from callcentre.domain.events import CallEvent
    from callcentre.domain.hours import always_open
    from callcentre.phones import normaliser
    from callcentre.services.bus import EventBus
    from callcentre.services.calllog import CallLogService
    from callcentre.storage.case_repository import SqliteCaseRepository

    stream = build_stream(min_events)
    db = Database(tmp / "live.sqlite3")
    await db.open()
    await db.migrate()
    service = CallLogService(CallTracker(always_open(TZ).is_open), SqliteCallRepository(db),
                             SqliteCaseRepository(db), timedelta(days=7))
    bus = EventBus()
    for kind in CallEvent.__args__:  # type: ignore[attr-defined]
        bus.subscribe(kind, service.handle)
    events = AmiEvents(Translator(("from-resident",), normaliser("GB"), Clock()), bus.publish)
    parser = FrameParser()
    started = time.perf_counter()
    for message in parser.feed(stream.data):
        events(message)
        if service.pending > 2000:  # let the writer run, as the event loop would
            await asyncio.sleep(0)
    await service.flush()
    seconds = time.perf_counter() - started
    await db.close()
    return {"calls": stream.inbound_calls, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    ledger, live = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            ledger.append(asyncio.run(catch_up(args.calls, Path(tmp))))
            live.append(asyncio.run(live_ami(args.calls * 30, Path(tmp))))
    rates = sorted(r["calls"] / r["seconds"] for r in ledger)
    live_rates = sorted(r["calls"] / r["seconds"] for r in live)
    first = ledger[0]
    print(f"ledger catch-up: {args.calls:,} calls ({first['lines']:,} queue_log lines, "
          f"{first['corrected']} corrected)")
    print(f"  calls/s best {rates[-1]:,.0f}  median {statistics.median(rates):,.0f}; "
          f"figures right again after {min(r['seconds'] for r in ledger):.2f} s (best)")
    print(f"live AMI path: {live[0]['calls']:,} recorded calls")
    print(f"  calls/s best {live_rates[-1]:,.0f}  median {statistics.median(live_rates):,.0f}")
    print(f"ratio catch-up / live AMI path (median calls/s): "
          f"{statistics.median(rates) / statistics.median(live_rates):.2f}")
    print(f"date of the calls: {date(2027, 1, 15)}; runs: {args.runs}")


if __name__ == "__main__":
    main()
