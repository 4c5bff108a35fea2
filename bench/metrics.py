"""Metrics and standards: /metrics scrape time and the monthly /standards render time.

A month with 1,000,000 logged calls over 50 queues (and the metric series they make)
is written to a temporary SQLite database; the real service is started on it (no
PBX: its AMI link just retries) and measured over HTTP on 127.0.0.1:

  scrape /metrics        p50/p99 of 200 scrapes        target p99 < 50 ms
  start-up warm-up       the service aggregates and caches the past days in the background
  /standards month       p50/p99 of 20 renders         target < 500 ms
  reference              GET /healthz on the same server, same run (HTTP overhead)

    .venv/bin/python bench/metrics.py [--calls N] [--queues N]

The 50,000 callbacks of the issue's scenario are in the database too (their metrics are
counted from it at scrape time). Agents are not a metric label (no personal data), so the
issue's 500 agents add nothing to a scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from callcentre.app import Service
from callcentre.config import Config
from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.storage.call_repository import COLUMNS, row_values
from callcentre.storage.db import Database

OUTCOMES = [(Outcome.ANSWERED, 0.82), (Outcome.ABANDONED, 0.12), (Outcome.TIMEOUT, 0.02),
            (Outcome.HUNG_UP_BEFORE_QUEUE, 0.04)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def month_of_calls(n: int, queues: int, start: datetime, rng: random.Random):  # type: ignore[no-untyped-def]
    span = 30 * 86400
    kinds, weights = zip(*OUTCOMES, strict=True)
    for i in range(n):
        arrived = start + timedelta(seconds=span * i / n)
        outcome = rng.choices(kinds, weights)[0]
        wait = rng.expovariate(1 / 25)
        call = Call(linkedid=f"{arrived.timestamp():.0f}.{i}", channel=f"PJSIP/r-{i}",
                    arrived_at=arrived, caller=f"+4477009{i % 100000:05d}",
                    queue=f"queue-{i % queues:02d}", outcome=outcome,
                    end_source=EndSource.HANGUP, repeat_of=1 if i % 9 == 0 else None,
                    ended_at=arrived + timedelta(seconds=wait + 60))
        if outcome is not Outcome.HUNG_UP_BEFORE_QUEUE:
            q = arrived + timedelta(seconds=2)
            end = q + timedelta(seconds=wait)
            call = replace(call, queued_at=q,
                           answered_at=end if outcome is Outcome.ANSWERED else None,
                           left_queue_at=None if outcome is Outcome.ANSWERED else end,
                           abandoned=outcome is Outcome.ABANDONED)
        yield call


def write_db(path: Path, n: int, queues: int, start: datetime) -> float:
    asyncio.run(_migrate(path))
    t0 = time.perf_counter()
    conn = sqlite3.connect(path)
    sql = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    batch = []
    for call in month_of_calls(n, queues, start, random.Random(7)):
        batch.append(row_values(call))
        if len(batch) == 20_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    write_callbacks(conn, 50_000, start, random.Random(11))
    conn.commit()
    conn.close()
    return time.perf_counter() - t0


def write_callbacks(conn: sqlite3.Connection, n: int, start: datetime,
                    rng: random.Random) -> None:
    """``n`` callbacks over the month: most closed (kept/late/missed/cancelled), some open."""
    rows = []
    now = datetime.now(UTC).timestamp()
    for i in range(n):
        created = start.timestamp() + 30 * 86400 * i / n
        open_ = i % 10 == 0
        due = (now + rng.uniform(-3600, 86400)) if open_ else created + 4 * 3600
        result = None if open_ else rng.choices(["kept", "late", "missed", "cancelled"],
                                                [85, 6, 5, 4])[0]
        rows.append((1, f"CASE-{i}", f"+4477009{i % 100000:05d}", "callback", "en",
                     rng.choice(["agent", "queue_keypress", "abandoned", "out_of_hours"]),
                     "Sam", None, created, due, None, int(i % 17 == 0), created,
                     None if open_ else due, "pending" if open_ else "closed", result,
                     due if open_ else None, 0 if open_ else 1, None if open_ else 1))
    conn.executemany(
        "INSERT INTO callbacks (version, case_ref, phone, reason, language, source, promised_by,"
        " owner, not_before, due_by, original_due_by, extensions, created_at, closed_at, status,"
        " result, next_attempt_at, attempt_count, first_attempt_in_time)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


async def _migrate(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.migrate()
    await db.close()


async def timed(http: aiohttp.ClientSession, url: str, times: int) -> list[float]:
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        async with http.get(url) as resp:
            await resp.read()
            assert resp.status == 200, (url, resp.status)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def measure(db: Path, queues: int, month_day: str) -> dict[str, list[float]]:
    cfg = Config(db=str(db), http_port=free_port(), ami_port=free_port(),
                 ami_reconnect_max=5.0, log_level="WARNING")
    t0 = time.perf_counter()
    async with Service(cfg).running() as svc:
        # at the first start, every day's figures are built from the calls (migration 013)
        warm_up = [(time.perf_counter() - t0) * 1000]
        # the metric series a month of traffic leaves behind, on every queue
        rng = random.Random(3)
        for call in month_of_calls(50_000, queues, datetime(2026, 10, 1, tzinfo=UTC), rng):
            svc.metrics.touch_queue(call.queue or "none")
            svc.metrics.call_finished(call)
        base = f"http://127.0.0.1:{cfg.http_port}"
        async with aiohttp.ClientSession() as http:
            ref = await timed(http, f"{base}/healthz", 200)
            scrape = await timed(http, f"{base}/metrics", 200)
            month = f"{base}/standards?period=month&date={month_day}"
            warm = await timed(http, month, 20)
    return {"reference": ref, "scrape": scrape, "cold": warm_up, "warm": warm}


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--queues", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        start = datetime(2026, 10, 1, tzinfo=UTC)
        took = write_db(db, args.calls, args.queues, start)
        print(f"wrote {args.calls:,} calls over {args.queues} queues and 50,000 callbacks"
              f" in {took:.1f} s")
        r = asyncio.run(measure(db, args.queues, "2026-10-15"))
    ref50 = statistics.median(r["reference"])
    print(f"reference  GET /healthz          p50 {ref50:7.2f} ms  p99 {p(r['reference'], .99):7.2f} ms")
    s99 = p(r["scrape"], .99)
    print(f"scrape     GET /metrics          p50 {statistics.median(r['scrape']):7.2f} ms  "
          f"p99 {s99:7.2f} ms  (target p99 < 50 ms: {'met' if s99 < 50 else 'NOT met'}; "
          f"{statistics.median(r['scrape']) / ref50:.1f}x reference)")
    w99 = p(r["warm"], .99)
    print(f"standards  first start           {r['cold'][0]:7.1f} ms  (builds every day's figures from the calls, once)")
    print(f"standards  month page            p50 {statistics.median(r['warm']):7.2f} ms  p99 {w99:7.2f} ms"
          f"  (target < 500 ms: {'met' if w99 < 500 else 'NOT met'}; "
          f"{statistics.median(r['warm']) / ref50:.1f}x reference)")


if __name__ == "__main__":
    main()
