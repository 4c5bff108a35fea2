"""Every page and API at a year and at ten years of history, over HTTP (issue #16).

Two databases made by bench/history.py (cached, see --cache): the last year of a council
taking a million calls a year (1M calls, 1 year) and ten years of it (10M calls, 10
years, the same shape with growth). For each, the real service (``callcentre serve``, its
own process, SQLite WAL, the always-open policy of bench/_policy.py, queue_log on an empty
file so the ledger runs as a council runs it, no PBX: the AMI link just retries) is timed
over HTTP on 127.0.0.1 by a manager's bearer token, on what managers and agents use.

**First view** is the first request of a freshly started service on a fresh copy of the
generated database: nothing computed in the process, and in the database only what the
service keeps as it stores calls (the per-day figures of migration 013, filed once under
the council's local days as the first start after that migration does; the time that
one-off step took is printed). Every row with a first view gets its own
copy and its own start: the service is started, /healthz answering is awaited, the
row's request is made once (first view), then repeated (warm: p50 and p99, for at most
--warm-seconds and --warm-requests). The operating system's page cache is not dropped:
the copy has just been written, so the file is in memory, as on a busy server.

Rows with no first view, on one more fresh start: /metrics (first scrape, then p50/p99
of scrapes four a second for --steady-seconds), /healthz p50/p99 idle (300 in a row),
GET /api/calls/{id} for calls all over the history, 50 a second for --steady-seconds
while /metrics is scraped twice a second. /healthz is also polled
every 50 ms while the busiest queue's month page is computed for the first time (the
heaviest report): p50, p99 and max while it runs.

Targets (issue #16): every page and API p99 under 200 ms at 10M, first view included;
growth 1M -> 10M at most 1.5x for every figure; /healthz p99 under 20 ms while any
report runs; /metrics p99 under 50 ms. Rows above are flagged with ``!`` and listed.

    .venv/bin/python bench/pages_at_scale.py                 # 1M only (quick)
    .venv/bin/python bench/pages_at_scale.py --sizes 1M,10M  # both, with the growth ratio
    .venv/bin/python bench/pages_at_scale.py --sizes 50k:1,500k:10 --cache /var/tmp/x

**PostgreSQL beside SQLite** (issue #13): ``--engines sqlite,postgresql`` (one size) copies
the same history into a throwaway PostgreSQL cluster with the real ``callcentre
migrate-data`` (timed and printed, with the VACUUM ANALYZE after it; bench/_engines.py),
then measures every row on SQLite, then on PostgreSQL, each start on a fresh copy (for
PostgreSQL: CREATE DATABASE ... TEMPLATE), and prints both columns and PostgreSQL / SQLite.

    .venv/bin/python bench/pages_at_scale.py --engines sqlite,postgresql --warm-requests 10

The council's volume is flat by default (--growth 0, where bench/history.py's own default
is 6 % a year): issue #16 compares ten years of 10M calls with the same council's last
year of 1M, so the last year is the same size in both, and a figure's growth 1M -> 10M
comes from the older history alone, not from a busier last year.

A size is ``CALLS:YEARS`` (``1M`` and ``10M`` are ``1M:1`` and ``10M:10``). Databases are
built when missing, older than --max-age-days (the history ends when it was built, and
"this month" must be in it), built with other arguments or by another version of
bench/history.py; a database behind the
migrations of this branch is migrated once, timed (the upgrade a council would run).
Everything printed is measured in this run, except the build speed of a reused database,
which is not printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import _engines
import history
from _policy import ALWAYS_OPEN  # bench/, the script's own folder
from history import Shape, build, count, load_after, verify

from callcentre.domain.paging import Keyset
from callcentre.storage.db import Database, migrations
from callcentre.storage.standards_repository import Rebuilt, SqliteStandardsRepository

TZ = ZoneInfo("Europe/London")
PAGE_P99 = 0.200  # every page and API, first view included
HEALTHZ_P99 = 0.020  # while any report runs
METRICS_P99 = 0.050
GROWTH = 1.5
# Growth is flagged only where the larger figure is at least this: below it a ratio of two
# sub-millisecond timings is noise (0.4 ms -> 1.1 ms), not growth. Every ratio is printed.
NOISE = 0.010
# a cached database made by another version of the generator is made again
GENERATOR = hashlib.sha256(Path(history.__file__).read_bytes()).hexdigest()[:16]


# --- the databases ---------------------------------------------------------------------

@dataclass(frozen=True)
class Size:
    calls: int
    years: float

    @property
    def label(self) -> str:
        n = self.calls
        short = f"{n // 1_000_000}M" if n % 1_000_000 == 0 else (
            f"{n // 1000}k" if n % 1000 == 0 else str(n))
        return f"{short} ({self.years:g} y)"

    @property
    def file(self) -> str:
        return f"history-{self.calls}-{self.years:g}y"


def size(text: str) -> Size:
    calls, _, years = text.partition(":")
    n = count(calls)
    return Size(n, float(years) if years else {1_000_000: 1.0, 10_000_000: 10.0}.get(n, 1.0))


@dataclass
class Prepared:
    """A pristine database and what the bench asks it for."""

    path: Path
    token: str
    small_month: str  # a small queue, for its month page
    small_year: str  # another small queue, for its year in the API
    busiest: str
    window: tuple[str, str]  # one year of /api/calls: since, until (dates)
    deep_cursor: str  # the page cursor of the call in the middle of that window
    call_ids: list[int]
    case_ref: str
    callback_id: int
    closed_cursor: str  # the page cursor of the closed callback in the middle, by deadline
    owner: str  # the agent who owns most callbacks
    note: str  # how it was made or reused, measured in this run


def prepare(s: Size, cache: Path, seed: int, growth: float, max_age_days: float,
            rebuild: bool, triggers: str, after: Sequence[str]) -> Prepared:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{s.file}.sqlite3"
    meta_path = cache / f"{s.file}.json"
    want = {"calls": s.calls, "years": s.years, "seed": seed, "growth": growth,
            "triggers": triggers, "after": list(after), "generator": GENERATOR}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    fresh_enough = (time.time() - meta.get("built_at", 0)) < max_age_days * 86400
    if rebuild or not path.exists() or not fresh_enough or meta.get("args") != want:
        print(f"building {path} ({s.calls:,} calls over {s.years:g} years)", flush=True)
        built = build(path, Shape(calls=s.calls, years=s.years, seed=seed, growth=growth),
                      triggers=triggers,
                      after=[load_after(a) for a in after],
                      progress=lambda line: print(line, flush=True))
        read = verify(path)
        token = subprocess.run(
            [sys.executable, "-m", "callcentre", "token", "create", "--role", "manager",
             "--name", "Bench Manager", "--days", "365"],
            env={**os.environ, "CALLCENTRE_DB": str(path)}, check=True, capture_output=True,
            text=True).stdout.strip()
        meta = {"args": want, "built_at": time.time(), "token": token}
        meta_path.write_text(json.dumps(meta))
        note = (f"built in this run: {built.rows:,} rows in {built.seconds:.0f} s, "
                f"{built.rows_per_second:,.0f} rows/s ({built.calls / built.seconds:,.0f} "
                f"calls/s); {read:,} rows read back")
    else:
        note = f"reused (built {datetime.fromtimestamp(meta['built_at'], UTC):%Y-%m-%d %H:%M} UTC)"
    for step in (_migrate(path), _file_days(path)):
        if step:
            note += f"; {step}"
    size_mib = path.stat().st_size / 2**20
    return _questions(path, meta["token"], f"{note}; {size_mib:,.0f} MiB", seed)


def _file_days(path: Path) -> str:
    """The one-off step of the first start after migration 013 (the service's own
    SqliteStandardsRepository.prepare): the council's local days written and every day's
    figures filed under them. A council's database takes it once, at the upgrade; done
    here on the pristine database, so that each start below is an ordinary start."""
    async def file_days() -> Rebuilt | None:
        db = Database(path)
        await db.open()
        try:
            return await SqliteStandardsRepository(db).prepare(TZ)
        finally:
            await db.close()

    started = time.perf_counter()
    filed = asyncio.run(file_days())
    if filed is None:
        return ""
    return (f"days filed under {TZ.key} (once, as the first start after migration 013 does) "
            f"in {time.perf_counter() - started:.1f} s: {filed.rows:,} figure rows")


def _migrate(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        have = conn.execute("PRAGMA user_version").fetchone()[0]
    latest = migrations()[-1][0]
    if have >= latest:
        return ""
    started = time.perf_counter()

    asyncio.run(history.create_schema(path))  # the same migrations bring it up to date
    return f"migrated {have} -> {latest} in {time.perf_counter() - started:.1f} s"


def _questions(path: Path, token: str, note: str, seed: int) -> Prepared:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ranked = [r[0] for r in conn.execute(
            "SELECT queue, COUNT(*) FROM calls WHERE queue IS NOT NULL GROUP BY queue "
            "ORDER BY 2 DESC, 1")]
        last = conn.execute("SELECT max(arrived_at) FROM calls").fetchone()[0]
        until = datetime.fromtimestamp(last, TZ).date() + timedelta(days=1)
        since = until - timedelta(days=365)
        bounds = [datetime.combine(d, datetime.min.time(), TZ).timestamp() for d in (since, until)]
        (lo, hi), = conn.execute("SELECT min(id), max(id) FROM calls WHERE arrived_at >= ? "
                                 "AND arrived_at < ?", bounds)
        middle = conn.execute("SELECT arrived_at, id FROM calls WHERE id >= ? ORDER BY id"
                              " LIMIT 1", ((lo + hi) // 2,)).fetchone()
        top = conn.execute("SELECT max(id) FROM calls").fetchone()[0]
        rng = random.Random(seed)
        ids = [rng.randint(1, top) for _ in range(400)]
        case = conn.execute("SELECT case_ref FROM calls WHERE case_ref IS NOT NULL "
                            "ORDER BY id DESC LIMIT 1 OFFSET 1000").fetchone()
        callback = conn.execute("SELECT max(id) FROM callbacks").fetchone()[0]
        closed = conn.execute(
            "SELECT due_by, id FROM callbacks WHERE status = 'closed' ORDER BY due_by DESC, "
            "id DESC LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM callbacks WHERE status = 'closed')"
        ).fetchone()
        owner = conn.execute("SELECT owner FROM callbacks WHERE owner IS NOT NULL GROUP BY owner "
                             "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return Prepared(path, token, small_month=ranked[int(len(ranked) * 0.8)],
                    small_year=ranked[int(len(ranked) * 0.8) + 1], busiest=ranked[0],
                    window=(since.isoformat(), until.isoformat()), deep_cursor=Keyset(*middle).token(),
                    call_ids=ids, case_ref=case[0] if case else "", callback_id=callback or 1,
                    closed_cursor=Keyset(*closed).token() if closed else "",
                    owner=owner[0] if owner else "", note=note)


# --- the service -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class OnPostgres:
    """The pristine history in PostgreSQL: database ``pristine`` of ``cluster``."""

    cluster: _engines.postgres.Cluster
    pristine: str = "pristine"


class Server:
    """``callcentre serve`` on a fresh copy of a pristine database: the SQLite file, or
    with ``pg`` the PostgreSQL database copied into one named ``run``."""

    def __init__(self, pristine: Path, work: Path, token: str,
                 pg: OnPostgres | None = None) -> None:
        self.pristine, self.work, self.token, self.pg = pristine, work, token, pg
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.copy_seconds = self.start_seconds = 0.0

    async def __aenter__(self) -> Server:
        self.work.mkdir(parents=True, exist_ok=True)
        db = self.work / "cc.sqlite3"
        for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            p.unlink(missing_ok=True)
        started = time.perf_counter()
        if self.pg:
            await _engines.create(self.pg.cluster, "run", self.pg.pristine)
            url = self.pg.cluster.dsn("run")
        else:
            await asyncio.to_thread(shutil.copyfile, self.pristine, db)
            url = str(db)
        # written out before the service starts: a server's database file is not 8 GiB of
        # dirty pages the kernel flushes while the first view is timed
        await asyncio.to_thread(os.sync)
        self.copy_seconds = time.perf_counter() - started
        (self.work / "policy.toml").write_text(ALWAYS_OPEN)
        (self.work / "queue_log").write_text("")
        env = {**os.environ, "CALLCENTRE_DB": url, "CALLCENTRE_HTTP_PORT": str(self.port),
               "CALLCENTRE_AMI_PORT": str(free_port()), "CALLCENTRE_AMI_SECRET": "bench",
               "CALLCENTRE_QUEUE_LOG": str(self.work / "queue_log"),
               "CALLCENTRE_POLICY_FILE": str(self.work / "policy.toml"),
               "CALLCENTRE_LOG_LEVEL": "WARNING"}
        started = time.perf_counter()
        with (self.work / "serve.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "callcentre", "serve", env=env,
                stdout=subprocess.DEVNULL, stderr=log)
        try:
            await self._wait_healthy(started)
        except BaseException:
            await self.__aexit__()
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    async def _wait_healthy(self, started: float) -> None:
        assert self.process is not None
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise SystemExit(f"callcentre serve stopped: see {self.work / 'serve.log'}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            break
                if time.perf_counter() - started > 300:
                    raise SystemExit("callcentre serve did not answer /healthz in 300 s")
                await asyncio.sleep(0.05)

    async def __aexit__(self, *_: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Client:
    def __init__(self, server: Server, timeout: float) -> None:
        self._server = server
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._http = aiohttp.ClientSession(
            self._server.base, timeout=self._timeout,
            headers={"Authorization": f"Bearer {self._server.token}"})
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._http is not None
        await self._http.close()

    async def time(self, path: str) -> float:
        """Seconds to the whole answer; inf when it timed out."""
        assert self._http is not None
        started = time.perf_counter()
        try:
            async with self._http.get(path) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"GET {path}: {resp.status} {(await resp.text())[:300]}")
        except TimeoutError:
            return float("inf")
        return time.perf_counter() - started

    async def json(self, path: str) -> dict[str, object]:
        assert self._http is not None
        async with self._http.get(path) as resp:
            body: dict[str, object] = await resp.json()
            return body


# --- measuring -------------------------------------------------------------------------

@dataclass
class Figure:
    """One row's figures at one size: seconds (inf: timed out, nan: not measured)."""

    first: float = float("nan")
    warm: list[float] = field(default_factory=list)
    extra: str = ""

    def p(self, q: int) -> float:
        values = sorted(self.warm)
        if not values:
            return float("nan")
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    @property
    def worst(self) -> float:
        return max(self.warm) if self.warm else float("nan")


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    target: float = PAGE_P99  # for the first view and the p99
    first_view: bool = True


async def warm(client: Client, paths: Callable[[int], str], seconds: float,
               requests: int) -> list[float]:
    out: list[float] = []
    started = time.perf_counter()
    while len(out) < requests and (len(out) < 3 or time.perf_counter() - started < seconds):
        t = await client.time(paths(len(out)))
        out.append(t)
        if t == float("inf"):
            break
    return out


async def poll(client: Client, path: str, every: float, stop: asyncio.Event) -> list[float]:
    out: list[float] = []
    while not stop.is_set():
        out.append(await client.time(path))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return out


@dataclass
class Settings:
    work: Path
    timeout: float
    warm_seconds: float
    warm_requests: int
    steady_seconds: float


def first_view_rows(p: Prepared) -> list[tuple[Row, Callable[[int], str]]]:
    since, until = p.window
    year_from = (date.fromisoformat(until) - timedelta(days=365)).isoformat()
    year_to = (date.fromisoformat(until) - timedelta(days=1)).isoformat()
    window = urlencode({"since": since, "until": until})
    ids = p.call_ids
    return [
        (Row("month_small", f"/standards month, small queue ({p.small_month})"),
         lambda _: f"/standards?period=month&queue={p.small_month}"),
        (Row("year_small", f"/api/standards a year, small queue ({p.small_year})"),
         lambda _: f"/api/standards?from={year_from}&to={year_to}&queue={p.small_year}"),
        (Row("month_busiest", f"/standards month, busiest queue ({p.busiest})"),
         lambda _: f"/standards?period=month&queue={p.busiest}"),
        (Row("standards_now", "/standards this month, all queues"), lambda _: "/standards"),
        # a site's figures sum its queues' rows (queue IN ...): here every queue is the one
        # PBX's, the most rows a site can have, against the council's one row a day
        (Row("standards_site", "/standards this month, one site (every queue: site=main)"),
         lambda _: "/standards?site=main"),
        (Row("public", "/public/standards this month"), lambda _: "/public/standards"),
        (Row("csv", "/api/standards.csv this month"), lambda _: "/api/standards.csv"),
        (Row("wallboard", "/wallboard"), lambda _: "/wallboard"),
        (Row("home", "/ (latest calls)"), lambda _: "/"),
        (Row("agent", "/agent"), lambda _: "/agent"),
        (Row("calls_year", "/api/calls one-year window, first page"),
         lambda _: f"/api/calls?{window}"),
        (Row("calls_year_deep", "/api/calls one-year window, a deep page"),
         lambda _: f"/api/calls?{window}&cursor={p.deep_cursor}"),
        (Row("calls_queue", f"/api/calls ?queue={p.busiest}&outcome=abandoned"),
         lambda _: f"/api/calls?queue={p.busiest}&outcome=abandoned"),
        (Row("call", "GET /api/calls/{id}, ids over all years"),
         lambda n: f"/api/calls/{ids[n % len(ids)]}"),
        (Row("callbacks", "/api/callbacks?status=pending"),
         lambda _: "/api/callbacks?status=pending"),
        (Row("callbacks_closed", "/api/callbacks?status=closed"),
         lambda _: "/api/callbacks?status=closed"),
        (Row("callbacks_deep", "/api/callbacks?status=closed, a deep page"),
         lambda _: f"/api/callbacks?status=closed&cursor={p.closed_cursor}"),
        (Row("callbacks_owner", "/api/callbacks?owner= (the busiest owner)"),
         lambda _: f"/api/callbacks?{urlencode({'owner': p.owner})}"),
        (Row("callbacks_due_year", "/api/callbacks one-year due window, soonest first"),
         lambda _: f"/api/callbacks?due_from={since}&due_until={until}&order=soonest"),
        (Row("callback", "GET /api/callbacks/{id}"), lambda _: f"/api/callbacks/{p.callback_id}"),
        (Row("cases", "/api/cases?status=open"), lambda _: "/api/cases?status=open"),
        (Row("case", "GET /api/cases/{ref} with its calls"), lambda _: f"/api/cases/{p.case_ref}"),
    ]


STEADY = [
    Row("metrics", "/metrics", METRICS_P99),
    Row("healthz", "/healthz, idle", PAGE_P99, first_view=False),
    Row("healthz_report", "/healthz while the busiest month is computed",
        HEALTHZ_P99, first_view=False),
    Row("call_scraped", "GET /api/calls/{id} while /metrics is scraped 2/s", PAGE_P99,
        first_view=False),
]


async def measure_size(p: Prepared, s: Settings, only: set[str] | None,
                       engines: Sequence[OnPostgres | None] = (None,)) -> list[dict[str, Figure]]:
    """Every row on each engine (None: SQLite), the engines in turn row by row, so that
    the load of the machine, which changes by the minute, weighs on each alike."""
    figures: list[dict[str, Figure]] = [{} for _ in engines]
    starts: list[list[float]] = [[] for _ in engines]
    for row, paths in first_view_rows(p):
        if only and row.key not in only:
            continue
        for pg, mine, started in zip(engines, figures, starts, strict=True):
            async with Server(p.path, s.work, p.token, pg) as server, \
                    Client(server, s.timeout) as client:
                started.append(server.start_seconds)
                fig = Figure()
                if row.key == "month_busiest":  # the heaviest report: /healthz meanwhile
                    stop = asyncio.Event()
                    async with Client(server, s.timeout) as prober:
                        probe = asyncio.create_task(poll(prober, "/healthz", 0.05, stop))
                        fig.first = await client.time(paths(0))
                        stop.set()
                        mine["healthz_report"] = Figure(warm=await probe)
                else:
                    fig.first = await client.time(paths(0))
                if fig.first != float("inf"):
                    fig.warm = await warm(client, lambda n, f=paths: f(n + 1), s.warm_seconds,
                                          s.warm_requests)
                mine[row.key] = fig
                print(f"  {_engine(pg)} {row.label}: first {_ms(fig.first)} ms, warm p50 "
                      f"{_ms(fig.p(50))} p99 {_ms(fig.p(99))} (n {len(fig.warm)})", flush=True)
    if not only or only & {r.key for r in STEADY}:
        for pg, mine, started in zip(engines, figures, starts, strict=True):
            async with Server(p.path, s.work, p.token, pg) as server, \
                    Client(server, s.timeout) as client:
                started.append(server.start_seconds)
                await steady(server, client, p, s, mine, _engine(pg))
    for mine, started in zip(figures, starts, strict=True):
        if started:
            mine["start"] = Figure(warm=started, extra="start to /healthz answering")
    return figures


def _engine(pg: OnPostgres | None) -> str:
    return "postgresql" if pg else "sqlite"


async def steady(server: Server, client: Client, p: Prepared, s: Settings,
                 figures: dict[str, Figure], engine: str = "") -> None:
    ids = p.call_ids
    metrics = Figure(first=await client.time("/metrics"))
    metrics.warm = await paced(client, lambda _: "/metrics", 0.25, s.steady_seconds)
    figures["metrics"] = metrics
    figures["healthz"] = Figure(warm=[await client.time("/healthz") for _ in range(300)])
    stop = asyncio.Event()
    async with Client(server, s.timeout) as scraper:
        scrapes = asyncio.create_task(poll(scraper, "/metrics", 0.5, stop))
        loaded = await paced(client, lambda n: f"/api/calls/{ids[n % len(ids)]}", 0.02,
                             s.steady_seconds)
        stop.set()
        scraped = await scrapes
    figures["call_scraped"] = Figure(warm=loaded, extra=f"{len(scraped)} scrapes meanwhile, "
                                     f"scrape p99 {_ms(Figure(warm=scraped).p(99))} ms")
    for key in ("metrics", "healthz", "call_scraped"):
        f = figures[key]
        print(f"  {engine} {key}: first {_ms(f.first)} ms, p50 {_ms(f.p(50))} p99 {_ms(f.p(99))} "
              f"(n {len(f.warm)}) {f.extra}", flush=True)


async def paced(client: Client, paths: Callable[[int], str], every: float,
                seconds: float) -> list[float]:
    """One request every ``every`` seconds (or back to back when slower) for ``seconds``."""
    out: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        due = started + len(out) * every
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        out.append(await client.time(paths(len(out))))
    return out


# --- the table -------------------------------------------------------------------------

def _known(value: float) -> bool:
    return not math.isnan(value)


def _over(value: float, limit: float | None) -> bool:
    return limit is not None and _known(value) and value > limit


def _ms(seconds: float) -> str:
    if not _known(seconds):
        return "-"
    if seconds == float("inf"):
        return "timeout"
    return f"{seconds * 1000:.0f}" if seconds >= 0.01 else f"{seconds * 1000:.1f}"


def _cell(value: float, limit: float | None) -> str:
    text = _ms(value)
    flag = "!" if _over(value, limit) else " "
    return f"{text}{flag}"


def _grew(a: float, b: float) -> bool:
    return _known(a) and _known(b) and a > 0 and b / a > GROWTH and max(a, b) >= NOISE


def _ratio(a: float, b: float, flag: bool = True) -> str:
    if not (_known(a) and _known(b)) or a <= 0:
        return "-"
    if b == float("inf"):
        return ">" if a != float("inf") else "-"
    return f"{b / a:.{1 if flag else 2}f}{'!' if flag and _grew(a, b) else ' '}"


@dataclass(frozen=True)
class Column:
    """One measured column: a size on an engine."""

    size: Size
    engine: str = "sqlite"
    shown_engine: bool = False

    @property
    def label(self) -> str:
        return f"{self.size.label}, {self.engine}" if self.shown_engine else self.size.label


def table(columns: list[Column], results: list[dict[str, Figure]], rows: list[Row]) -> list[str]:
    """The figures side by side, and the last column's ratio to the first: the growth
    from the first size to the last (flagged above GROWTH), or with two engines
    PostgreSQL / SQLite (not flagged: no target, a comparison)."""
    both = len(columns) > 1
    growth = both and columns[0].engine == columns[-1].engine
    head = f"{'':<58}" + "".join(f"{c.label:^27}" for c in columns)
    sub = f"{'ms':<58}" + f"{'first':>9}{'p50':>9}{'p99':>9}" * len(columns)
    if both:
        first, last = columns[0], columns[-1]
        ratio = (f"growth {first.size.label.split()[0]} -> {last.size.label.split()[0]}"
                 if growth else f"{last.engine} / {first.engine}")
        head += f"{ratio:^22}"
        sub += f"{'first':>8}{'p50':>7}{'p99':>7}"
    lines, above = [head, sub], []
    for row in rows:
        found = [(c, res[row.key]) for c, res in zip(columns, results, strict=True)
                 if row.key in res]
        if not found:
            continue
        cells = "".join(_cells(row, res.get(row.key)) for res in results)
        for c, f in found:
            above += _above_target(row, c, f)
        a, b = results[0].get(row.key), results[-1].get(row.key)
        if both and a is not None and b is not None:
            cells += (f"{_ratio(a.first, b.first, growth):>8}"
                      f"{_ratio(a.p(50), b.p(50), growth):>7}{_ratio(a.p(99), b.p(99), growth):>7}")
            above += [f"{row.label}: {name} grew {y / x:.1f}x (target {GROWTH}x)"
                      for name, x, y in (("first view", a.first, b.first),
                                         ("p50", a.p(50), b.p(50)), ("p99", a.p(99), b.p(99)))
                      if growth and _grew(x, y)]
        lines.append(f"{row.label[:57]:<58}{cells}")
    lines.append("! above the target: first view and p99 under 200 ms for pages and APIs, "
                 "/healthz p99 under 20 ms while a report runs, /metrics p99 under 50 ms; "
                 f"growth at most {GROWTH}x (flagged from {NOISE * 1000:.0f} ms up)")
    lines += [f"  {row.label} at {c.label}: max {_ms(res[row.key].worst)} ms, n "
              f"{len(res[row.key].warm)}" + (f", {res[row.key].extra}" if res[row.key].extra
                                             else "")
              for c, res in zip(columns, results, strict=True) for row in rows
              if row.key in ("healthz_report", "call_scraped") and row.key in res]
    if above:
        lines.append(f"{len(above)} above target:")
        lines += [f"  {a}" for a in above]
    else:
        lines.append("every figure within its target")
    return lines


def _cells(row: Row, f: Figure | None) -> str:
    if f is None:
        return f"{'':>27}"
    first_limit = row.target if row.first_view else None
    return (f"{_cell(f.first, first_limit):>9}{_cell(f.p(50), None):>9}"
            f"{_cell(f.p(99), row.target):>9}")


def _above_target(row: Row, c: Column, f: Figure) -> list[str]:
    first_limit = row.target if row.first_view else None
    return [f"{row.label} at {c.label}: {name} {_ms(value)} ms (target {limit * 1000:.0f} ms)"
            for name, value, limit in (("first view", f.first, first_limit),
                                       ("p99", f.p(99), row.target))
            if limit is not None and _over(value, limit)]


async def run(args: argparse.Namespace) -> None:
    sizes = [size(t) for t in args.sizes.split(",")]
    settings = Settings(Path(args.cache) / "run", args.timeout, args.warm_seconds,
                        args.warm_requests, args.steady_seconds)
    only = set(args.only.split(",")) if args.only else None
    engines = _engines.engines(args.engines)
    if len(engines) > 1 and len(sizes) > 1:
        raise SystemExit("two engines side by side at one size at a time")
    with contextlib.ExitStack() as stack:
        running = (stack.enter_context(_engines.cluster(args.pg_shared_buffers))
                   if "postgresql" in engines else None)
        if running:
            print(_engines.settings_note(args.pg_shared_buffers), flush=True)
        columns, results, loads, prep = [], [], [], None
        for s in sizes:
            prep = await asyncio.to_thread(prepare, s, Path(args.cache), args.seed, args.growth,
                                           args.max_age_days, args.rebuild, args.triggers,
                                           args.after)
            print(f"{s.label}: {prep.path}: {prep.note}", flush=True)
            targets: list[OnPostgres | None] = []
            for engine in engines:
                columns.append(Column(s, engine, len(engines) > 1))
                if engine == "sqlite":
                    targets.append(None)
                    continue
                assert running is not None
                targets.append(OnPostgres(running))
                print(f"{s.label} into PostgreSQL: "
                      f"{await _engines.migrate_data(running, prep.path, 'pristine')}",
                      flush=True)
            stop = asyncio.Event()
            sampler = asyncio.create_task(load_average(stop))
            try:
                results += await measure_size(prep, settings, only, targets)
            finally:  # the last fresh copy: as large as the database
                for p in settings.work.glob("cc.sqlite3*"):
                    p.unlink()
                if running:
                    await _engines.drop(running, "run", "pristine")
                stop.set()
                loads.append((s, await sampler))
    assert prep is not None
    rows = [row for row, _ in first_view_rows(prep)] + STEADY
    rows.append(Row("start", "start to /healthz answering (median of starts)", 60.0, False))
    print()
    for line in table(columns, results, rows):
        print(line)
    for s, (mean, top) in loads:
        print(f"load average (1 min) while {s.label} was measured: mean {mean:.2f}, max "
              f"{top:.2f} on {os.cpu_count()} cores (the machine's, other work included)")


async def load_average(stop: asyncio.Event) -> tuple[float, float]:
    """The 1-minute load average every 5 s until ``stop``: mean and max. Other work on
    the machine slows every figure; this says how much there was."""
    seen: list[float] = []
    while not stop.is_set():
        seen.append(os.getloadavg()[0])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)
    return (statistics.fmean(seen), max(seen)) if seen else (float("nan"), float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M",
                        help="CALLS[:YEARS],... (default 1M; both: 1M,10M)")
    parser.add_argument("--cache", default="/var/tmp/callcentre-bench",
                        help="where the generated databases are kept and reused")
    parser.add_argument("--rebuild", action="store_true", help="build the databases anew")
    parser.add_argument("--max-age-days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--growth", type=float, default=0.0,
                        help="year-on-year growth of the history (bench/history.py --growth); "
                        "0: every year as busy as the last, so 10M over 10 years has the "
                        "1M database's last year and the ratio is history's alone")
    parser.add_argument("--triggers", choices=("live", "rebuild"), default="live",
                        help="bench/history.py --triggers, for builds")
    parser.add_argument("--after", action="append", default=[],
                        help="bench/history.py --after, for builds (repeatable)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one request may take before it counts as timed out")
    parser.add_argument("--warm-seconds", type=float, default=20.0)
    parser.add_argument("--warm-requests", type=int, default=30)
    parser.add_argument("--steady-seconds", type=float, default=20.0,
                        help="how long /metrics is scraped (4/s) and GET /api/calls/{id} "
                        "asked (50/s) under scrapes")
    parser.add_argument("--only", default="", help="row keys, comma-separated (development)")
    parser.add_argument("--engines", default="sqlite",
                        help="sqlite, postgresql or both side by side (sqlite,postgresql: one "
                        "size; the history copied by callcentre migrate-data, timed)")
    parser.add_argument("--pg-shared-buffers", default="256MB")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
