"""Reads under load (#16): p50/p99 of ``GET /api/calls/{id}`` and of ``/healthz`` over HTTP,
alone and while long reports run, and the cost of a page of a one-year list.

A database of ``--calls`` (1,000,000) calls over two years, and a closed callback for every
second call, is written straight into SQLite after ``Database.migrate()`` (executemany, one
transaction); the policy keeps it all (no retention purge during the run). The real service
(``callcentre serve``, its own process, no PBX: its AMI link just retries) is then started
twice on it: with ``db_readers=1``, the reference (every read on one connection, as before
#16; /healthz has its own connection in both runs), and with the default pool. In each,
requests are sent one at a time on a keep-alive connection, first alone, then while
``--reports`` managers each ask again and again for a report: half of them a year of one
queue's standards with that queue's cache dropped first (365 day-aggregates, back to back),
the other half a year of callbacks (``/api/callbacks?due_from=&due_until=``: one long read
that still sorts its window, as calls' lists did before #16; one callback per two calls).

Lists: ``/api/calls?since=&until=`` over a one-year window, the first page and page 50
(following ``next``), over HTTP; and the same pages read with the pre-#16 statement
(``ORDER BY id DESC``, which sorts the window for every page) straight from SQLite, as the
reference.

    .venv/bin/python bench/reads_under_load.py [--calls N] [--requests N] [--reports N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _policy import ALWAYS_OPEN  # bench/, the script's own folder

from callcentre.storage.db import Database

QUEUES = ("council", "housing", "council-tax", "waste", "benefits")
OUTCOMES = (("answered", 82), ("abandoned", 10), ("timeout", 3), ("exit_with_key", 2),
            ("exit_empty", 1), ("left_queue", 1), ("hung_up_before_queue", 1))
COLUMNS = ("linkedid", "channel", "arrived_at", "caller", "caller_raw", "queue", "queued_at",
           "join_position", "answered_at", "agent_interface", "agent_name", "left_queue_at",
           "abandoned", "talk_ended_at", "ended_at", "hangup_cause", "outcome", "end_source",
           "case_ref", "case_link", "last_event_at", "wait_seconds", "talk_seconds")
YEAR = 365 * 86400.0
# the bench's policy: always open, and nothing old enough for the retention purge to touch
POLICY = ALWAYS_OPEN + "[retention]\n" + "".join(
    f'{kind} = "120 months"\n' for kind in ("calls", "callbacks", "cases", "ledger_lines"))
CALLBACK_COLUMNS = ("version", "phone", "reason", "language", "source", "promised_by",
                    "not_before", "due_by", "created_at", "closed_at", "status", "result",
                    "closed_result", "attempt_count", "first_attempt_in_time")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the database -------------------------------------------------------------------------
def rows(n: int, end: float, seed: int = 16) -> Iterator[tuple[object, ...]]:
    """``n`` finished calls, evenly over the two years before ``end``, oldest first."""
    rng = random.Random(seed)
    names, weights = zip(*OUTCOMES, strict=True)
    step = 2 * YEAR / n
    for i in range(n):
        at = end - 2 * YEAR + i * step
        outcome = rng.choices(names, weights)[0]
        queued = at + rng.uniform(2, 20) if outcome != "hung_up_before_queue" else None
        wait = rng.expovariate(1 / 40) if queued is not None else None
        answered = queued + wait if outcome == "answered" and queued and wait else None
        left = queued + wait if queued and wait else None
        talk = rng.expovariate(1 / 240) if answered else None
        ended = (answered + talk) if answered and talk else (left or at + 15)
        case = f"R-{i // 20}" if i % 20 == 0 else None
        yield (f"{int(at)}.{i}", f"PJSIP/trunk-{i:08x}", at, f"+4477009{rng.randrange(10**5):05d}",
               None, rng.choice(QUEUES) if queued else None, queued, 1 if queued else None,
               answered, "PJSIP/agent1" if answered else None, "Agent One" if answered else None,
               left, int(outcome == "abandoned"), ended if answered else None, ended, 16, outcome,
               "hangup", case, "agent" if case else None, ended, wait if queued else None, talk)


def callback_rows(n: int, end: float) -> Iterator[tuple[object, ...]]:
    """A closed, kept callback for every second call, due four hours after it."""
    step = 2 * YEAR / n
    for i in range(0, n, 2):
        at = end - 2 * YEAR + i * step
        yield (1, f"+4477009{i % 10**5:05d}", "bench", "en", "abandoned", "callcentre", at,
               at + 4 * 3600, at, at + 3600, "closed", "kept", "kept", 1, 1)


def insert(con: sqlite3.Connection, table: str, columns: tuple[str, ...],
           values: Iterator[tuple[object, ...]]) -> None:
    marks = ", ".join("?" * len(columns))
    con.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)


def build(path: Path, n: int, end: float) -> float:
    async def migrate() -> None:
        db = Database(path)
        await db.open()
        await db.migrate()
        await db.close()

    started = time.perf_counter()
    asyncio.run(migrate())
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    con.execute("BEGIN")
    insert(con, "calls", COLUMNS, rows(n, end))
    insert(con, "callbacks", CALLBACK_COLUMNS, callback_rows(n, end))
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return time.perf_counter() - started


# --- the service --------------------------------------------------------------------------
@dataclass
class Running:
    base: str
    token: str


def env_for(tmp: Path, readers: int, port: int) -> dict[str, str]:
    return {**os.environ, "CALLCENTRE_DB": str(tmp / "cc.sqlite3"),
            "CALLCENTRE_DB_READERS": str(readers), "CALLCENTRE_HTTP_PORT": str(port),
            "CALLCENTRE_AMI_PORT": str(free_port()), "CALLCENTRE_QUEUE_LOG": "",
            "CALLCENTRE_POLICY_FILE": str(tmp / "policy.toml"), "CALLCENTRE_LOG_LEVEL": "ERROR"}


def manager_token(tmp: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "callcentre", "token", "create", "--role",
                          "manager", "--name", "Bench Manager"], env=env_for(tmp, 1, 0),
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def cached_days(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
        return int(con.execute("SELECT count(*) FROM standards_days WHERE queue = '*'")
                   .fetchone()[0])


def start(tmp: Path, readers: int, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "callcentre", "serve"],
                            env=env_for(tmp, readers, port), stdout=subprocess.DEVNULL,
                            stderr=(tmp / f"serve-{readers}.log").open("wb"))


@contextlib.asynccontextmanager
async def service(tmp: Path, readers: int, token: str) -> AsyncIterator[Running]:
    port = free_port()
    process = start(tmp, readers, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(base + "/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
        # the service warms a year of standards at start: let it finish before measuring
        for _ in range(600):
            if cached_days(tmp / "cc.sqlite3") >= 395:
                break
            await asyncio.sleep(0.1)
        yield Running(base, token)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# --- measuring ----------------------------------------------------------------------------
def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def timed(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with http.get(url, headers=headers) as resp:
        await resp.read()
        assert resp.status == 200, (url, resp.status)
    return time.perf_counter() - started


async def latencies(run: Running, n: int, ids: int,
                    seconds: float = 45.0) -> dict[str, list[float]]:
    """``n`` of each, one at a time (fewer if ``seconds`` run out: a slow reference)."""
    rng = random.Random(7)
    auth = {"Authorization": f"Bearer {run.token}"}
    out: dict[str, list[float]] = {"call": [], "healthz": []}
    ends = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            if time.monotonic() > ends:
                break
            out["call"].append(await timed(http, f"{run.base}/api/calls/{rng.randrange(1, ids)}",
                                           auth))
            out["healthz"].append(await timed(http, f"{run.base}/healthz", {}))
    return out


async def report_loop(run: Running, db: Path, n: int, stop: asyncio.Event,
                      done: dict[str, list[float]]) -> None:
    """Report after report: the even ones a year of a queue's standards, computed afresh;
    the odd ones a year of callbacks."""
    today, queue = datetime.now(UTC).date(), QUEUES[n // 2 % len(QUEUES)]
    kind, url = ("standards", f"{run.base}/api/standards?from={today - timedelta(days=365)}"
                 f"&to={today - timedelta(days=1)}&queue={queue}") if n % 2 == 0 else (
        "callbacks", f"{run.base}/api/callbacks?due_from={today - timedelta(days=365)}"
                     f"&due_until={today}")
    auth = {"Authorization": f"Bearer {run.token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
        while not stop.is_set():
            if kind == "standards":
                await asyncio.to_thread(drop_cache, db, queue)
            done.setdefault(kind, []).append(await timed(http, url, auth))


def drop_cache(db: Path, queue: str) -> None:
    with contextlib.closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as con:
        con.execute("DELETE FROM standards_days WHERE queue = ?", (queue,))


async def under_reports(run: Running, db: Path, reports: int, n: int,
                        ids: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    stop, done = asyncio.Event(), {}
    loops = [asyncio.create_task(report_loop(run, db, i, stop, done)) for i in range(reports)]
    await asyncio.sleep(1.0)  # the reports are under way
    try:
        measured = await latencies(run, n, ids)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    return measured, done


# --- lists over a one-year window ---------------------------------------------------------
def window(end: float) -> tuple[datetime, datetime]:
    return (datetime.fromtimestamp(end - 1.5 * YEAR, UTC),
            datetime.fromtimestamp(end - 0.5 * YEAR, UTC))


def statement_ms(con: sqlite3.Connection, sql: str, args: list[object], times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        con.execute(sql, args).fetchall()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def statements(db: Path, end: float) -> dict[str, tuple[float, float]]:
    """(first page, page 50) in ms, best of 3: the list's statement before #16 and now."""
    from callcentre.domain.paging import Keyset
    from callcentre.ports import CallQuery
    from callcentre.storage.call_repository import list_query

    since, until = (t.timestamp() for t in window(end))
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    inside = "arrived_at >= ? AND arrived_at < ?"
    old = f"SELECT * FROM calls WHERE {inside} {{}} ORDER BY id DESC LIMIT 51"
    (old_cursor,) = con.execute(f"SELECT id FROM calls WHERE {inside} ORDER BY id DESC "
                                "LIMIT 1 OFFSET 2449", (since, until)).fetchone()
    at, ident = con.execute(f"SELECT arrived_at, id FROM calls WHERE {inside} ORDER BY "
                            "arrived_at DESC, id DESC LIMIT 1 OFFSET 2449",
                            (since, until)).fetchone()
    query = CallQuery(*window(end), limit=50)
    figures = {
        "before": (statement_ms(con, old.format(""), [since, until]),
                   statement_ms(con, old.format("AND id < ?"), [since, until, old_cursor])),
        "now": (statement_ms(con, *list_query(query)),
                statement_ms(con, *list_query(CallQuery(*window(end), limit=50,
                                                        cursor=Keyset(at, ident))))),
    }
    con.close()
    return figures


async def list_pages(run: Running, end: float, walks: int = 5) -> tuple[list[float], list[float]]:
    since, until = window(end)
    auth = {"Authorization": f"Bearer {run.token}"}
    first, fiftieth = [], []
    async with aiohttp.ClientSession() as http:
        for _ in range(walks):
            url = (f"{run.base}/api/calls?since={since.isoformat().replace('+', '%2B')}"
                   f"&until={until.isoformat().replace('+', '%2B')}")
            for page in range(1, 51):
                started = time.perf_counter()
                async with http.get(url, headers=auth) as resp:
                    body = await resp.json()
                took = time.perf_counter() - started
                (first if page == 1 else fiftieth if page == 50 else []).append(took)
                url = run.base + body["next"]
    return first, fiftieth


# --- the run ------------------------------------------------------------------------------
@dataclass
class Figures:
    alone: dict[str, list[float]]
    loaded: dict[str, list[float]]
    reports: dict[str, list[float]]


async def measure(tmp: Path, readers: int, token: str, args: argparse.Namespace,
                  end: float) -> tuple[Figures, tuple[list[float], list[float]] | None]:
    async with service(tmp, readers, token) as run:
        await latencies(run, 50, args.calls)  # warm up
        alone = await latencies(run, args.requests, args.calls)
        loaded, reports = await under_reports(run, tmp / "cc.sqlite3", args.reports,
                                              args.requests, args.calls)
        lists = await list_pages(run, end) if readers > 1 else None
    return Figures(alone, loaded, reports), lists


def line(label: str, ref: list[float], now: list[float]) -> str:
    return (f"{label:38} {p(ref, 50):7.2f} / {p(ref, 99):7.2f}   {p(now, 50):7.2f} / "
            f"{p(now, 99):7.2f}   {p(ref, 99) / p(now, 99):6.1f}x   (n={len(ref)}, {len(now)})")


def report(ref: Figures, now: Figures, readers: int, reports: int) -> None:
    print(f"\n{'p50 / p99, ms':38} {'db_readers=1 (ref)':>19}   {f'db_readers={readers}':>17}"
          "   p99 ref/now")
    for key, label in (("call", "GET /api/calls/{id}"), ("healthz", "GET /healthz")):
        print(line(f"{label} alone", ref.alone[key], now.alone[key]))
        print(line(f"{label} during {reports} reports", ref.loaded[key], now.loaded[key]))
    for name, fig in (("db_readers=1", ref), (f"db_readers={readers}", now)):
        print(f"  reports finished meanwhile with {name}: " + "; ".join(
            f"{len(took)} {kind}, {statistics.mean(took):.2f} s each"
            for kind, took in sorted(fig.reports.items())))


def lists_report(sql: dict[str, tuple[float, float]],
                 http: tuple[list[float], list[float]] | None) -> None:
    print(f"\n{'one-year window, limit 50':38} {'first page':>12} {'page 50':>10}")
    (b1, b50), (n1, n50) = sql["before"], sql["now"]
    print(f"{'before #16: ORDER BY id DESC (SQLite)':38} {b1:9.2f} ms {b50:7.2f} ms")
    print(f"{'now: (arrived_at, id) keyset (SQLite)':38} {n1:9.2f} ms {n50:7.2f} ms")
    print(f"{'  ratio before/now':38} {b1 / n1:10.0f}x {b50 / n50:8.0f}x")
    if http:
        first, fiftieth = http
        print(f"{'now over HTTP, median of 5 walks':38} {statistics.median(first) * 1000:9.2f}"
              f" ms {statistics.median(fiftieth) * 1000:7.2f} ms")


async def main(args: argparse.Namespace) -> None:
    from callcentre.config import Config

    pooled = Config().db_readers
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "policy.toml").write_text(POLICY)
        end = time.time() - 3600  # every call over an hour ago
        took = await asyncio.to_thread(build, tmp / "cc.sqlite3", args.calls, end)
        size = (tmp / "cc.sqlite3").stat().st_size / 2**20
        print(f"{args.calls:,} calls over two years written in {took:.0f} s ({size:.0f} MiB); "
              f"{args.requests} requests of each kind per measure, one at a time")
        token = manager_token(tmp)
        sql = statements(tmp / "cc.sqlite3", end)
        ref, _ = await measure(tmp, 1, token, args, end)
        now, http = await measure(tmp, pooled, token, args, end)
    report(ref, now, pooled, args.reports)
    lists_report(sql, http)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--reports", type=int, default=2, help="managers running reports")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
