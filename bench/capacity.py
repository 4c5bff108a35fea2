"""Capacity model refresh at a year of history (>= 1,000,000 calls), against a full scan.

    .venv/bin/python bench/capacity.py [--cache /var/tmp/cap-bench] [--calls 1M] [--rounds 5]

The database is made by bench/history.py (a large council: 50 queues, opening hours,
abandons, callbacks with attempts) into ``--cache`` once and reused (its own directory:
never another benchmark's cache). The service's clock is set to the end of the history, so
the model's window (the six whole weeks before today) is full. Measured in turns, each round
on a fresh CapacityService (nothing kept from the round before):

  scan       reference: one plain full scan of the calls table (COUNT, TOTAL of the waits
             and talk times: every row read), what a model learned from "all of history"
             would cost at the least
  history    the model's SQL reads alone: the window's half-hours of every queue (calls and
             callback attempts) and last week's agents
  refresh    CapacityService.advice(): the reads, the model, and Erlang A for each of the
             week's 336 half-hours with the "what if" (every queue pooled)
  busiest    the same for the busiest queue alone
  kept       advice() again on the same day: the kept advice

Printed: median and best of each in ms, and refresh / scan. The operating system's page
cache is warm (the database was just built or read); not dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import history  # bench/, the script's own folder

from callcentre.services.capacity import CapacityService
from callcentre.storage.capacity_repository import SqliteCapacityHistory
from callcentre.storage.db import Database
from callcentre.testing import FakeClock

LONDON = ZoneInfo("Europe/London")
TARGETS = {20: 0.8, 60: 0.95}
SCAN = "SELECT COUNT(*), TOTAL(wait_seconds), TOTAL(talk_seconds) FROM calls"


def prepare(cache: Path, calls: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"year-{calls // 1000}k.sqlite3"
    if not path.exists():
        print(f"building {path} ({calls:,} calls, a year; about a minute per million)")
        history.build(path, history.Shape(calls=calls, years=1.0))
    return path


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return (time.perf_counter() - t0) * 1000


async def measure(path: Path, rounds: int) -> dict[str, list[float]]:
    db = Database(str(path))
    await db.open()
    try:
        t0 = time.perf_counter()
        version = await db.migrate()  # a database built before 019: its half-hours filled
        print(f"schema {version}, migrated in {time.perf_counter() - t0:.1f} s")
        row = await db.fetch_one("SELECT MAX(arrived_at), COUNT(*) FROM calls")
        assert row is not None
        end, total = datetime.fromtimestamp(row[0], UTC), row[1]
        busiest = await db.fetch_one("SELECT queue, COUNT(*) AS n FROM calls WHERE arrived_at > ?"
                                     " GROUP BY queue ORDER BY n DESC LIMIT 1", (row[0] - 86400 * 7,))
        assert busiest is not None
        print(f"{path.name}: {total:,} calls up to {end:%Y-%m-%d %H:%M} UTC; busiest queue "
              f"{busiest[0]}")
        repo = SqliteCapacityHistory(db)
        out: dict[str, list[float]] = {k: [] for k in
                                       ("scan", "history", "refresh", "busiest", "kept")}
        for _ in range(rounds):
            clock = FakeClock(end)
            service = CapacityService(repo, clock, LONDON, TARGETS)
            out["scan"].append(await _timed(lambda: db.fetch_one(SCAN)))
            out["history"].append(await _timed(lambda s=service: s.model(None)))
            out["refresh"].append(await _timed(lambda s=service: s.advice(None)))
            out["busiest"].append(await _timed(lambda s=service: s.advice(busiest[0])))
            out["kept"].append(await _timed(lambda s=service: s.advice(None)))
        advice = await service.advice(None)
        m = advice.model
        peak = advice.busiest
        print(f"model (every queue, pooled): {m.calls:,} calls queued in {m.weeks} weeks, "
              f"handling {m.handling_seconds or 0:.0f} s, patience "
              f"{m.patience_seconds or 0:.0f} s; {len(advice.slots)} half-hours with calls or callbacks; "
              f"busiest {peak.start:%a %H:%M}: {peak.calls:.0f} calls, {peak.needed} agents"
              if peak else "no calls in the window")
        return out
    finally:
        await db.close()


def report(out: dict[str, list[float]]) -> None:
    print(f"{'':10}{'median ms':>12}{'best ms':>12}")
    for name, times in out.items():
        print(f"{name:10}{statistics.median(times):12.1f}{min(times):12.1f}")
    ratio = statistics.median(out["refresh"]) / statistics.median(out["scan"])
    print(f"refresh / full scan of calls: {ratio:.2f}x (median over {len(out['scan'])} rounds)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default="/var/tmp/cap-bench")
    parser.add_argument("--calls", type=history.count, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    path = prepare(Path(args.cache), args.calls)
    report(asyncio.run(measure(path, args.rounds)))


if __name__ == "__main__":
    main()
