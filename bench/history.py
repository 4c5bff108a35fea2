"""Years of history: a callcentre SQLite database of N calls over Y years, built fast.

The schema is the service's own (``Database(path).open(); migrate()``); the rows are
then written straight into the tables with ``executemany`` in large transactions, the
way the repositories encode them (storage/call_repository.py, callback_repository.py,
case_repository.py): times as UTC epoch REAL seconds, enums as their values, callbacks'
attempts and history as JSON arrays. Deterministic: the same arguments (seed and --end
included; --end defaults to now) give the same database, byte for byte in every row.

The shape of a large council's contact centre:

* 50 queues, skewed (Zipf): the busiest (council-tax) has about 22 % of the calls;
* arrivals follow opening hours (Mon-Thu 08:30-17:00, Fri to 16:30, as the packaged
  scheduler/policy.toml): a morning peak, a lunch dip, a smaller afternoon peak, busier
  Mondays, English public holidays and weekends closed; calls outside the hours are
  flagged ``out_of_hours`` (about 5 %); March and April (bills) busy, August and December
  quiet; year-on-year growth (``--growth``, 6 % a year); day-to-day noise;
* outcomes mostly answered, some abandoned (a third of them short abandons under 5 s),
  timeouts at each queue's maximum wait, exits with a key, empty queues, hang-ups before
  any queue, a few unknown (closed on resync); waits log-normal with a long tail, worse in
  a queue's bad months;
* repeat contacts (about 12 % of calls, ``repeat_of`` the earlier call), cases and calls
  linked to them (keyed, by number, by an agent), queue_log verdicts (``ledger``) on most
  queue calls (about 1 % corrected);
* callbacks about 5 % of calls (a resident's key press, long abandons, calls while
  closed, agents' promises): closed as kept, late, missed or cancelled with their
  attempts and history, a few corrected or rescheduled, and those of the last two days
  still open (a few hundred);
* queue_log's lines (ENTERQUEUE, then CONNECT and COMPLETECALLER or how the visit
  ended) and a settled ledger_calls row for every call with a verdict, as the ledger
  keeps them (``--no-ledger-lines``: none, and a database about 40 % smaller);
* records older than the retention periods (the service's defaults: 13 months for
  calls, callbacks and queue_log lines, 24 for cases) already anonymised, as the daily
  purge leaves them (``--keep-personal`` keeps everything).

After the build, a spread of rows is read back through the repositories' converters,
and the ledger's fold of sampled calls' lines must give the calls' own outcome and wait.
Not generated: tokens, the standards cache (standards_days: the service fills it),
audit rows, sessions.

**Triggers and maintained tables.** Tables whose rows SQLite triggers maintain from
``calls`` and ``callbacks`` (per-day figures, callback tallies) are kept right in one of
two ways, ``--triggers``:

* ``live`` (the default): the triggers stay and fire on every row inserted, so whatever
  they maintain is exact whatever it is; slower.
* ``rebuild``: every trigger on the loaded tables is dropped before the load and created
  again after it (its SQL read from sqlite_master), and then each ``--after`` hook
  rebuilds what the triggers would have maintained: ``module:function`` (called with the
  open ``sqlite3.Connection``, inside a transaction) or a ``.sql`` file (run as a script).
  ``rebuild`` with triggers present and no hook is refused: the maintained tables would
  be left empty. The hook is whatever the change that adds the triggers offers to
  rebuild them (``callcentre.storage.figures:rebuild`` below is an example name).

With ``live`` triggers and rebuilt indexes (below), the triggers fire while the loaded
tables have no secondary index: a trigger that reads calls back by an index (rather
than adding the new row's figures) would be slow then; use ``--indexes live`` with it.

Secondary indexes of the loaded tables are dropped and created again after the load
(``--indexes rebuild``, the default: a sort is much faster than 10 M random inserts);
``--indexes live`` keeps them. ANALYZE is not run, like in a real deployment. The
database is built as ``PATH.building`` and renamed when complete, so an interrupted build
never leaves a half database under the real name.

    .venv/bin/python bench/history.py OUT.sqlite3 --calls 1000000 --years 1
    .venv/bin/python bench/history.py OUT.sqlite3 --calls 10000000 --years 10 \\
        --triggers rebuild --after callcentre.storage.figures:rebuild
    .venv/bin/python bench/history.py          # 50,000 calls into a temporary file

From Python: ``build(path, Shape(calls=..., years=...), triggers="live", after=[...])``
returns a ``Built`` with the counts and rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import holidays

from callcentre.domain.queue_log import fold
from callcentre.domain.retention import Kind, RetentionPolicy
from callcentre.storage.call_repository import COLUMNS as CALL_REPOSITORY_COLUMNS
from callcentre.storage.call_repository import call_from_row
from callcentre.storage.callback_repository import callback_from_row
from callcentre.storage.case_repository import case_from_row
from callcentre.storage.db import Database
from callcentre.storage.ledger_repository import _line as line_from_row

DAY = 86400.0
# The loaded tables: their triggers and secondary indexes are what --triggers/--indexes act on.
TABLES = ("calls", "cases", "callbacks", "ledger_lines", "ledger_calls")

QUEUES = (
    "council-tax", "housing-repairs", "benefits", "waste-recycling", "parking",
    "housing-options", "adult-social-care", "childrens-services", "payments", "planning",
    "highways", "environmental-health", "school-admissions", "business-rates", "switchboard",
    "council-tax-support", "garden-waste", "bulky-waste", "blue-badge", "registrars",
    "licensing", "tenancy", "rent-arrears", "homelessness", "anti-social-behaviour",
    "building-control", "street-lighting", "libraries", "leisure", "pest-control", "noise",
    "fly-tipping", "electoral-services", "trading-standards", "concessionary-travel",
    "bereavement", "parks", "allotments", "trees", "graffiti", "abandoned-vehicles",
    "dropped-kerbs", "land-charges", "freedom-of-information", "complaints", "customer-accounts",
    "translation", "pensions", "cemeteries", "markets",
)
SUBJECTS = ("change of address", "payment plan", "missed collection", "repair request",
            "application", "complaint", "appeal", "new account", "refund", "enquiry")
FIRST = ("Ann", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hassan", "Isla", "Jack",
         "Kiran", "Laura", "Mo", "Nadia", "Owen", "Priya", "Rhys", "Sara", "Tom", "Zoe")
LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Patel", "Wright", "Khan", "Evans", "Thomas", "Roberts", "Walker", "Hughes")
AGENTS = 400
TEAM = "Customer Services"  # scheduler/policy.toml team_name: who automatic promises name

# (outcome, base share of queued calls); abandons, timeouts and key exits grow in bad months
OUTCOMES = (("answered", 0.885), ("abandoned", 0.065), ("timeout", 0.015),
            ("exit_with_key", 0.025), ("exit_empty", 0.004), ("left_queue", 0.003),
            ("unknown", 0.003))
# automatic and agents' callbacks: (source, share of such calls that become one)
SOURCES = {"exit_with_key": ("queue_keypress", 0.9), "abandoned": ("abandoned", 0.3),
           "answered": ("agent", 0.0125)}
QUEUE_STATUS = {"timeout": "TIMEOUT", "exit_empty": "LEAVEEMPTY", "left_queue": "LEAVEUNAVAIL"}
# Mon..Sun share of a day's calls, months' (Jan..Dec), half-hours of an open day
WEEKDAY = (1.2, 1.05, 1.0, 0.97, 0.85, 0.06, 0.03)
MONTH = (1.05, 1.0, 1.2, 1.25, 1.0, 0.95, 0.95, 0.85, 1.0, 1.0, 0.95, 0.8)
OPEN_FROM = 17  # 08:30, the 17th half-hour
PROFILE = (0.9, 1.3, 1.4, 1.35, 1.3, 1.2, 1.1, 0.95, 0.9, 0.95, 1.05, 1.1, 1.05, 1.0, 0.9,
           0.8, 0.6)  # 08:30 .. 17:00 (Friday stops at 16:30)


@dataclass(frozen=True)
class Shape:
    """What to build. ``end``: the last moment of history (default: now)."""

    calls: int
    years: float
    end: datetime | None = None
    seed: int = 16
    queues: int = 50
    busiest_share: float = 0.23  # of queued calls: about 22 % of all
    growth: float = 0.06  # a year
    repeat_share: float = 0.12
    open_callback_hours: float = 48.0  # callbacks made this close to the end are still open
    keep_personal: bool = False  # True: nothing anonymised, whatever its age
    ledger_lines: bool = True  # queue_log's lines of every call with a verdict
    timezone: str = "Europe/London"


@dataclass
class Built:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)  # rows per table
    open_callbacks: int = 0
    insert_seconds: float = 0.0
    index_seconds: float = 0.0
    after_seconds: float = 0.0
    seconds: float = 0.0
    first: float = 0.0
    last: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def calls(self) -> int:
        return self.counts.get("calls", 0)

    @property
    def callbacks(self) -> int:
        return self.counts.get("callbacks", 0)

    @property
    def cases(self) -> int:
        return self.counts.get("cases", 0)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --- the rows -------------------------------------------------------------------------

# Every column of calls, in the order rows are made; storage/call_repository.py COLUMNS
# (and migrations/) name them: _check_columns fails when one is added there and not here.
CALL_COLUMNS = (
    "id", "linkedid", "channel", "arrived_at", "caller", "caller_raw", "caller_name",
    "dialled", "out_of_hours", "queue", "queued_at", "join_position", "answered_at",
    "agent_interface", "agent_name", "left_queue_at", "abandoned", "abandon_position",
    "queue_status", "talk_ended_at", "ended_at", "hangup_cause", "outcome", "end_source",
    "keyed_case_ref", "case_ref", "case_link", "repeat_of", "last_event_at", "wait_seconds",
    "talk_seconds", "ledger")
CALLBACK_COLUMNS = (
    "id", "version", "case_ref", "phone", "reason", "language", "source", "promised_by",
    "owner", "not_before", "due_by", "original_due_by", "extensions", "created_at",
    "closed_at", "status", "result", "next_attempt_at", "attempt_count",
    "first_attempt_in_time", "source_linkedid", "attempts", "history", "closed_result",
    "corrections")
CASE_COLUMNS = ("ref", "subject", "status", "phone", "created_at", "updated_at")
LINE_COLUMNS = ("id", "at", "callid", "queue", "agent", "event", "data")
LEDGER_CALL_COLUMNS = ("callid", "last_line_at", "settled_at")
# the loaded tables, in the order a batch is written (cases before the calls linking them)
COLUMNS = {"cases": CASE_COLUMNS, "calls": CALL_COLUMNS, "callbacks": CALLBACK_COLUMNS,
           "ledger_lines": LINE_COLUMNS, "ledger_calls": LEDGER_CALL_COLUMNS}
# queue_log's line for how a visit ended, per outcome (domain/queue_log.py EXITS); calls
# that left otherwise (left_queue, unknown) get no lines, and no verdict
EXIT_LINES = {"answered": "CONNECT", "abandoned": "ABANDON", "timeout": "EXITWITHTIMEOUT",
              "exit_with_key": "EXITWITHKEY", "exit_empty": "EXITEMPTY"}


@dataclass
class Rows:
    """Rows made and not yet written, per table."""

    tables: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in COLUMNS})

    def __getattr__(self, table: str) -> list[tuple[Any, ...]]:
        return self.__dict__["tables"][table]


def _insert(table: str, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})")


def _zipf_exponent(n: int, share: float) -> float:
    """s such that the first of n Zipf(s) weights is ``share`` of them all."""
    lo, hi = 0.0, 5.0
    for _ in range(60):
        s = (lo + hi) / 2
        first = 1.0 / sum(k ** -s for k in range(1, n + 1))
        lo, hi = (s, hi) if first < share else (lo, s)
    return (lo + hi) / 2


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


@dataclass
class _Queue:
    name: str
    index: int
    median_wait: float  # seconds, in a normal month
    max_wait: float  # the queue's timeout
    agents: tuple[int, ...]
    prefix: str  # of its cases' refs


@dataclass
class _Recent:
    """Calls of the last days with a caller, oldest first: where repeats are drawn from."""

    at: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)
    lo: int = 0

    def add(self, at: float, call_id: int, caller: str) -> None:
        self.at.append(at)
        self.ids.append(call_id)
        self.callers.append(caller)

    def pick(self, rng: random.Random, now: float, window: float) -> tuple[int, str] | None:
        at, lo = self.at, self.lo
        while lo < len(at) and at[lo] < now - window:
            lo += 1
        if lo > 500_000:  # drop what slid out of the window
            del self.at[:lo], self.ids[:lo], self.callers[:lo]
            lo = 0
        self.lo = lo
        span = len(self.at) - lo
        if span <= 0:
            return None
        back = min(int(rng.expovariate(1 / 1500.0)), span - 1)  # most repeat within a day
        j = len(self.at) - 1 - back
        return self.ids[j], self.callers[j]


class Generator:
    """Makes the rows, day by day, in arrival order (ids ascend with arrived_at)."""

    def __init__(self, shape: Shape, installation: str) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.tz = ZoneInfo(shape.timezone)
        end = shape.end or datetime.now(UTC)
        self.end = end.timestamp()
        self.start = self.end - shape.years * 365.2425 * DAY
        self.installation = installation
        retention = RetentionPolicy()
        self.keep_personal = shape.keep_personal
        self.calls_cutoff = retention.cutoff(Kind.CALLS, end).timestamp()
        self.callbacks_cutoff = retention.cutoff(Kind.CALLBACKS, end).timestamp()
        self.cases_cutoff = retention.cutoff(Kind.CASES, end).timestamp()
        self.lines_cutoff = retention.cutoff(Kind.LEDGER_LINES, end).timestamp()
        self.open_after = self.end - shape.open_callback_hours * 3600
        s = _zipf_exponent(shape.queues, shape.busiest_share)
        weights = [k ** -s for k in range(1, shape.queues + 1)]
        self.queue_cum = _cumulative(weights)
        rng = self.rng
        names = [QUEUES[i] if i < len(QUEUES) else f"queue-{i + 1}" for i in range(shape.queues)]
        self.queues = []
        for i, name in enumerate(names):
            pool = max(4, int(AGENTS * weights[i] / sum(weights) * 1.5))
            first_agent = rng.randrange(AGENTS)
            self.queues.append(_Queue(
                name, i, median_wait=rng.uniform(8, 35), max_wait=rng.choice((600, 900, 1200)),
                agents=tuple((first_agent + k) % AGENTS for k in range(pool)),
                prefix="".join(w[0] for w in name.split("-")).upper()[:3]))
        self.agent_names = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(AGENTS)]
        self.months: dict[tuple[int, int], float] = {}  # (queue, month) -> how bad its waits were
        self.recent = _Recent()
        self.cases_of: dict[str, tuple[str, float]] = {}  # caller -> (its case, created)
        self.rows = Rows()
        self.line_id = 0
        self.call_id = 0
        self.callback_id = 0
        self.case_seq = 0
        self.open_callbacks = 0
        self.calls_of_days = self._days()

    # --- when -----------------------------------------------------------------------
    def _days(self) -> list[tuple[date, int]]:
        """Every council-local day of the history with its number of calls (summing to N)."""
        first = datetime.fromtimestamp(self.start, self.tz).date()
        last = datetime.fromtimestamp(self.end, self.tz).date()
        public = holidays.country_holidays("GB", subdiv="ENG",
                                           years=range(first.year, last.year + 1))
        days, weights = [], []
        rng = random.Random(self.shape.seed + 1)
        day, closed_before = first, False
        while day <= last:
            closed = day in public or day.weekday() >= 5
            w = (0.05 if day in public else WEEKDAY[day.weekday()]) * MONTH[day.month - 1]
            w *= (1 + self.shape.growth) ** ((day - first).days / 365.2425)
            w *= math.exp(rng.gauss(0, 0.08))
            if closed_before and not closed:
                w *= 1.3  # the first working day after a long weekend
            days.append(day)
            weights.append(w)
            closed_before = closed
            day += timedelta(days=1)
        # the first and last days are partial: weigh them by the share of them inside
        weights[0] *= self._share_inside(days[0])
        weights[-1] *= self._share_inside(days[-1])
        total, carry, out = sum(weights), 0.0, []
        for d, w in zip(days, weights, strict=True):
            exact = self.shape.calls * w / total + carry
            n = int(exact)
            carry = exact - n
            out.append((d, n))
        shortfall = self.shape.calls - sum(n for _, n in out)
        if shortfall:
            d, n = out[-2] if len(out) > 1 else out[-1]
            out[out.index((d, n))] = (d, n + shortfall)
        return out

    def _slots(self, day: date) -> list[float]:
        """The UTC epoch of each local half-hour of ``day`` (DST days included)."""
        return [datetime(day.year, day.month, day.day, k // 2, 30 * (k % 2),
                         tzinfo=self.tz).timestamp() for k in range(48)]

    def _share_inside(self, day: date) -> float:
        slots = self._slots(day)
        inside = sum(1 for s in slots if self.start <= s < self.end)
        return max(inside / 48, 0.01)

    def _open_slots(self, day: date, is_closed: bool) -> range:
        if is_closed:
            return range(0)
        return range(OPEN_FROM, OPEN_FROM + (16 if day.weekday() == 4 else 17))

    def _slot_weights(self, open_slots: range) -> list[float]:
        weights = []
        for k in range(48):
            if k in open_slots:
                weights.append(PROFILE[k - OPEN_FROM])
            elif not open_slots:  # a closed day: people still call in the daytime
                weights.append(1.0 if 16 <= k < 36 else 0.05)
            elif 14 <= k < OPEN_FROM or open_slots.stop <= k < 42:
                weights.append(0.06)  # before opening, evenings
            else:
                weights.append(0.003)
        return weights

    # --- the calls ------------------------------------------------------------------
    def days(self) -> Iterator[date]:
        """Makes each day's rows into ``self.rows``, yielding after each day."""
        public = holidays.country_holidays(
            "GB", subdiv="ENG", years=range(self.calls_of_days[0][0].year,
                                            self.calls_of_days[-1][0].year + 1))
        for day, n in self.calls_of_days:
            closed = day in public or day.weekday() >= 5
            open_slots = self._open_slots(day, closed)
            slots = self._slots(day)
            cum = _cumulative(self._slot_weights(open_slots))
            rng = self.rng
            picked = rng.choices(range(48), cum_weights=cum, k=n)
            times = []
            for k in picked:
                t = slots[k] + rng.random() * 1800.0
                if self.start <= t < self.end:
                    times.append((t, k in open_slots, k))
                else:  # a partial day: keep the count, move it inside
                    t = min(max(t, self.start), self.end - 1) - rng.random() * 60
                    times.append((max(t, self.start), False, k))
            times.sort()
            queues = rng.choices(self.queues, cum_weights=self.queue_cum, k=n)
            for (t, is_open, slot), queue in zip(times, queues, strict=True):
                self._call(t, not is_open, slot, queue)
            yield day

    def _badness(self, queue: _Queue, t: float) -> float:
        month = int((t - self.start) // (30.44 * DAY))
        key = (queue.index, month)
        bad = self.months.get(key)
        if bad is None:
            bad = self.months[key] = math.exp(self.rng.gauss(0, 0.35))
        return bad

    def _caller(self, t: float) -> tuple[str | None, str | None, int | None]:
        """(caller, caller_raw, repeat_of)"""
        rng = self.rng
        if rng.random() < self.shape.repeat_share:
            earlier = self.recent.pick(rng, t, 7 * DAY)
            if earlier is not None:
                return earlier[1], "0" + earlier[1][3:], earlier[0]
        r = rng.random()
        if r < 0.05:
            return None, "anonymous", None
        number = f"+447{rng.randrange(100_000_000, 999_999_999)}" if r < 0.75 else \
            f"+441{rng.randrange(100_000_000, 999_999_999)}"
        return number, "0" + number[3:], None

    def _call(self, arrived: float, ooh: bool, slot: int, queue: _Queue) -> None:
        rng = self.rng
        self.call_id += 1
        call_id = self.call_id
        linkedid = f"{int(arrived)}.{call_id}"
        caller, caller_raw, repeat_of = self._caller(arrived)
        caller_name = None if rng.random() < 0.85 else \
            f"{rng.choice(FIRST)} {rng.choice(LAST)}".upper()
        outcome = self._outcome(queue, arrived, ooh)
        if outcome == "hung_up_before_queue":
            q, visit = None, (None,) * 10 + (arrived + rng.uniform(3, 60), "hangup", None, None)
        else:
            q, visit = queue.name, self._visit(outcome, queue, arrived)
        (queued_at, position, answered_at, agent_if, agent_name, left_at, abandoned,
         abandon_position, queue_status, talk_end, ended, end_source, wait, talk) = visit
        keyed, case_ref, case_link = self._case_link(caller, outcome, queue, arrived, ended)
        ledger = self._ledger(outcome, wait, ended) if outcome in EXIT_LINES else None
        if ledger is not None and self.shape.ledger_lines:
            self._lines(linkedid, queue.name, outcome, caller_raw, visit)
        if caller is not None:
            self.recent.add(arrived, call_id, caller)
            self._callback(call_id, linkedid, arrived, ended, ooh, outcome, wait, caller,
                           case_ref, agent_if, agent_name, slot)
        if arrived < self.calls_cutoff and not self.keep_personal:
            caller = caller_raw = caller_name = keyed = case_ref = case_link = None
        self.rows.calls.append((
            call_id, linkedid, f"PJSIP/trunk-{call_id:08x}", arrived, caller, caller_raw,
            caller_name, "01632960000" if queue.index % 3 else "01632960123", int(ooh), q,
            queued_at, position, answered_at, agent_if, agent_name, left_at, abandoned or 0,
            abandon_position, queue_status, talk_end, ended, 16, outcome, end_source, keyed,
            case_ref, case_link, repeat_of, ended, wait, talk, ledger))

    def _visit(self, outcome: str, queue: _Queue, arrived: float) -> tuple[Any, ...]:
        """A queued call's columns from queued_at to talk_ended_at, then ended_at,
        end_source, wait and talk."""
        rng = self.rng
        queued_at = arrived + rng.uniform(8, 45)
        wait = self._wait(outcome, queue, arrived)
        position = 1 + min(int(rng.expovariate(1 / (1 + wait / 60))), 40)
        left_at: float | None = queued_at + wait
        ended = queued_at + wait + rng.uniform(0.2, 2.0)
        answered_at = agent_if = agent_name = talk_end = talk = abandon_position = None
        abandoned, end_source = 0, "ledger" if rng.random() < 0.002 else "hangup"
        if outcome == "answered":
            answered_at = left_at
            agent = rng.choice(queue.agents)
            agent_if, agent_name = f"PJSIP/agent{agent:03d}", self.agent_names[agent]
            talk = rng.lognormvariate(math.log(240), 0.8)
            talk_end = queued_at + wait + talk
            ended = talk_end + rng.uniform(0.0, 1.5)
        elif outcome == "abandoned":
            abandoned, abandon_position = 1, max(1, position - int(wait // 60))
        elif outcome == "exit_with_key":
            ended += rng.uniform(10, 40)  # hears the promised time
        elif outcome == "unknown":
            left_at, end_source, ended = None, "reconciled", queued_at + wait
        return (queued_at, position, answered_at, agent_if, agent_name, left_at, abandoned,
                abandon_position, QUEUE_STATUS.get(outcome), talk_end, ended, end_source,
                wait, talk)

    def _case_link(self, caller: str | None, outcome: str, queue: _Queue, arrived: float,
                   ended: float) -> tuple[str | None, ...]:
        """(keyed_case_ref, case_ref, case_link): an answered first contact opens a case;
        later calls from the number link to it, keyed or by number."""
        rng = self.rng
        if caller is not None and caller in self.cases_of:
            ref, _ = self.cases_of[caller]
            return (ref, ref, "keyed") if rng.random() < 0.3 else (None, ref, "number")
        if outcome == "answered" and caller is not None and rng.random() < 0.06:
            return None, self._case(queue, caller, arrived, ended), "agent"
        if rng.random() < 0.01:  # a ref keyed that we do not hold
            return f"{queue.prefix}-{rng.randrange(10_000, 99_999)}", None, None
        return None, None, None

    def _lines(self, linkedid: str, queue: str, outcome: str, caller_raw: str | None,
               visit: tuple[Any, ...]) -> None:
        """queue_log's lines of a settled call (domain/queue_log.py's layouts) and its
        ledger_calls row, settled a few seconds after its last line."""
        (queued_at, position, answered_at, _, agent_name, left_at, _, _, _, talk_end, _, _,
         wait, talk) = visit
        enter = int(queued_at)
        caller_id = "" if enter < self.lines_cutoff and not self.keep_personal else \
            caller_raw or ""
        event = EXIT_LINES[outcome]
        held = int(wait)
        if event == "CONNECT":
            lines = [(enter, "NONE", "ENTERQUEUE", f"|{caller_id}|{position}"),
                     (int(answered_at), agent_name, "CONNECT", f"{held}|{linkedid}1|5"),
                     (int(talk_end), agent_name, "COMPLETECALLER",
                      f"{held}|{int(talk)}|{position}")]
        else:
            key = "1|" if event == "EXITWITHKEY" else ""
            lines = [(enter, "NONE", "ENTERQUEUE", f"|{caller_id}|{position}"),
                     (int(left_at), "NONE", event, f"{key}{max(1, position - 1)}|{position}|"
                                                   f"{held}")]
        table = self.rows.ledger_lines
        for at, agent, name, data in lines:
            self.line_id += 1
            table.append((self.line_id, at, linkedid, queue, agent, name, data))
        last = lines[-1][0]
        self.rows.ledger_calls.append((linkedid, last, last + self.rng.uniform(1, 30)))

    def _ledger(self, outcome: str, wait: float | None, ended: float) -> str | None:
        """queue_log's verdict: most agree, about 1 % corrected, the rest not compared."""
        if ended >= self.end - 120:
            return None
        r = self.rng.random()
        if r < 0.012:
            return self._correction(outcome, wait or 0.0)
        return "agrees" if r < 0.985 else None

    def _outcome(self, queue: _Queue, t: float, ooh: bool) -> str:
        rng = self.rng
        if rng.random() < (0.5 if ooh else 0.015):
            return "hung_up_before_queue"
        bad = self._badness(queue, t) * (1.8 if ooh else 1.0)
        r = rng.random() * (1 + (bad - 1) * 0.12)
        for outcome, share in OUTCOMES[1:]:
            r -= share * bad
            if r < 0:
                return outcome
        return "answered"

    def _wait(self, outcome: str, queue: _Queue, t: float) -> float:
        rng = self.rng
        median = queue.median_wait * self._badness(queue, t)
        if outcome == "answered":
            wait = rng.lognormvariate(math.log(median), 1.0)
        elif outcome == "abandoned":
            wait = rng.uniform(0.3, 5.0) if rng.random() < 0.33 else \
                rng.lognormvariate(math.log(median * 2.5), 0.9)
        elif outcome == "timeout":
            return queue.max_wait + rng.uniform(0.0, 2.0)
        elif outcome == "exit_with_key":
            wait = rng.lognormvariate(math.log(median * 3), 0.7)
        elif outcome == "exit_empty":
            wait = rng.uniform(0.0, 20.0)
        else:
            wait = rng.lognormvariate(math.log(40), 1.0)
        return round(min(wait, queue.max_wait - 1), 6)

    def _correction(self, outcome: str, wait: float) -> str:
        rng = self.rng
        ami = round(wait + rng.choice((-1, 1)) * rng.uniform(1.6, 6.0), 1)
        text = f"wait: {max(ami, 0.0):.1f} -> {wait:.1f}"
        if outcome == "answered" and rng.random() < 0.3:
            return f"outcome: abandoned -> answered; {text}"
        if outcome == "abandoned" and rng.random() < 0.3:
            return f"outcome: unknown -> abandoned; {text}"
        return text

    def _case(self, queue: _Queue, caller: str, at: float, ended: float) -> str:
        rng = self.rng
        self.case_seq += 1
        year = datetime.fromtimestamp(at, UTC).year
        ref = f"{queue.prefix}-{year}-{self.case_seq:07d}"
        subject = f"{queue.name.replace('-', ' ').capitalize()}: {rng.choice(SUBJECTS)}"
        updated = min(ended + rng.lognormvariate(math.log(6 * DAY), 1.0), self.end - 1)
        status = "open" if updated > self.end - 45 * DAY and rng.random() < 0.7 else "closed"
        phone: str | None = caller
        if status == "closed" and updated < self.cases_cutoff and not self.keep_personal:
            phone, subject = None, ""
        self.rows.cases.append((ref, subject, status, phone, at, updated))
        self.cases_of[caller] = (ref, at)
        return ref

    # --- callbacks ------------------------------------------------------------------
    def _callback(self, call_id: int, linkedid: str, arrived: float, ended: float, ooh: bool,
                  outcome: str, wait: float | None, caller: str, case_ref: str | None,
                  agent_if: str | None, agent_name: str | None, slot: int) -> None:
        rng = self.rng
        source, chance = ("out_of_hours", 0.2) if ooh else SOURCES.get(outcome, ("", 0.0))
        if source == "abandoned" and (wait or 0) < 30:  # policy: abandoned_after_seconds
            return
        if rng.random() >= chance:
            return
        self.callback_id += 1
        cb_id = self.callback_id
        created = ended
        # deadlines: "within 4 working hours" / "end of next working day", roughly
        if source in ("agent", "queue_keypress"):
            due = created + (4 * 3600 if slot < 26 else 20 * 3600)
        else:
            due = created + rng.uniform(26, 34) * 3600
        not_before = created
        promised_by = agent_name if source == "agent" and agent_name else TEAM
        owner = agent_if if source == "agent" and rng.random() < 0.5 else None
        reason = ("Resident asked to be called back" if source != "agent" else
                  f"Call back about {rng.choice(SUBJECTS)}")
        language = "en" if rng.random() < 0.97 else rng.choice(("cy", "pl", "ur"))
        history: list[dict[str, Any]] = [_entry(created, promised_by, "created",
                                                new=_iso(due))]
        original_due = due
        extensions = 0
        if rng.random() < 0.04:
            extensions = 1
            new_due = due + DAY
            history.append(_entry(created + rng.uniform(600, 3 * 3600), "Team Leader",
                                  "rescheduled", old=_iso(due), new=_iso(new_due),
                                  reason="Resident asked for tomorrow",
                                  told=rng.choice(("phone", "sms", "not_told"))))
            due = new_due
        src_linkedid = linkedid if source != "agent" else None
        if created >= self.open_after:
            self.open_callbacks += 1
            nxt = max(not_before, created + 1800)
            self.rows.callbacks.append((cb_id, len(history), case_ref, caller, reason, language, source,
                        promised_by, owner, not_before, due, original_due, extensions, created,
                        None, "pending", None, nxt, 0, None, src_linkedid, "[]",
                        json.dumps(history), None, None))
            return
        closed = self._closed(cb_id, created, due, history, caller, reason, case_ref)
        self.rows.callbacks.append((cb_id, len(history), closed[2], closed[0], closed[1], language, source,
                    promised_by, owner, not_before, due, original_due, extensions, created,
                    *closed[3:6], None, *closed[6:8], src_linkedid, *closed[8:]))

    def _closed(self, cb_id: int, created: float, due: float, history: list[dict[str, Any]],
                phone: str, reason: str, case_ref: str | None) -> tuple[Any, ...]:
        """A closed callback's (phone, reason, case_ref, closed_at, status, result,
        attempt_count, first_attempt_in_time, attempts, history, closed_result,
        corrections), anonymised when closed before the retention cutoff."""
        rng = self.rng
        attempts, result, closed_at = self._attempts(cb_id, created, due, history)
        counted = [a for a in attempts if a["outcome"] not in ("not_placed", "agent_no_answer")]
        first_in_time = None if not counted else int(counted[0]["start"] <= due)
        closed_result, corrections = result, None
        if result != "cancelled" and rng.random() < 0.004:
            new = rng.choice([x for x in ("kept", "late", "missed") if x != result])
            history.append(_entry(closed_at + rng.uniform(3600, 5 * DAY), "Team Leader",
                                  "corrected", old=result, new=new,
                                  reason="Checked the recording"))
            corrections = json.dumps([f"{result}>{new}"])
            result = new
        if closed_at < self.callbacks_cutoff and not self.keep_personal:
            phone, reason, case_ref = "", "", None
            for a in attempts:
                a["note"] = None
            for h in history:
                h["reason"] = None
        return (phone, reason, case_ref, closed_at, "closed", result, len(counted),
                first_in_time, json.dumps(attempts), json.dumps(history), closed_result,
                corrections)

    def _attempts(self, cb_id: int, created: float, due: float,
                  history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, float]:
        """The attempts of a closed callback, its result and when it closed."""
        rng = self.rng
        r = rng.random()
        result = ("kept" if r < 0.80 else "late" if r < 0.87 else
                  "missed" if r < 0.92 else "cancelled")
        if result == "cancelled":
            at = created + rng.uniform(600, max(900.0, due - created))
            history.append(_entry(at, "system", "closed", new="cancelled",
                                  reason="the resident called and was answered"))
            return [], result, at
        n = 3 if result == "missed" else rng.choices((1, 2, 3), (0.75, 0.2, 0.05))[0]
        span = due - created
        at = created + (rng.uniform(0.05, 0.6) * span if result != "late" else
                        span * rng.uniform(0.3, 0.9))
        attempts = []
        for k in range(1, n + 1):
            last = k == n
            reached = last and result != "missed"
            if reached and result == "late":
                at = max(at, due + rng.uniform(300, 6 * 3600))
            agent = f"PJSIP/agent{rng.randrange(AGENTS):03d}"
            ring = rng.uniform(8, 30)
            fail = rng.choice(("no_answer", "unconfirmed", "busy", "answering_machine"))
            attempt = {"n": k, "start": at, "channel": f"callback-{self.installation}-{cb_id}-{k}",
                       "agent": agent, "end": at + (ring + rng.uniform(60, 400) if reached else ring),
                       "outcome": "reached" if reached else fail,
                       "answered": at + ring if reached or fail == "unconfirmed" else None,
                       "confirmed": reached, "manual": False, "note": None,
                       "amd": "HUMAN" if reached else ("MACHINE" if fail == "answering_machine"
                                                        else None)}
            attempts.append(attempt)
            history.append(_entry(at, "system", "attempt", new=str(k), reason=agent))
            history.append(_entry(attempt["end"], "system", "outcome", new=attempt["outcome"]))
            at = attempt["end"] + rng.choice((1800, 7200)) + rng.uniform(0, 600)
        closed_at = attempts[-1]["end"]
        history.append(_entry(closed_at, "system", "closed", new=result))
        return attempts, result, closed_at


def _counts(built: Built) -> str:
    return ", ".join(f"{n:,} {table}" for table, n in built.counts.items())


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _entry(at: float, by: str, action: str, old: str | None = None, new: str | None = None,
           reason: str | None = None, told: str | None = None) -> dict[str, Any]:
    return {"at": at, "by": by, "action": action, "old": old, "new": new, "reason": reason,
            "told": told}


# --- the database ---------------------------------------------------------------------

async def create_schema(path: Path) -> None:
    """The service's schema, by its own migrations."""
    db = Database(path)
    await db.open()
    try:
        await db.migrate()
    finally:
        await db.close()


def _check_columns(conn: sqlite3.Connection) -> None:
    for table, ours in COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if set(ours) != have:
            raise SystemExit(f"bench/history.py is out of step with the {table} table: "
                             f"missing {sorted(have - set(ours))}, unknown {sorted(set(ours) - have)}")
    missing = set(CALL_REPOSITORY_COLUMNS) - set(CALL_COLUMNS)
    if missing:
        raise SystemExit(f"bench/history.py does not write calls columns {sorted(missing)}")


def _schema_objects(conn: sqlite3.Connection, kind: str) -> list[tuple[str, str]]:
    """(name, sql) of the triggers or explicit indexes on the loaded tables."""
    marks = ",".join("?" * len(TABLES))
    return [(r[0], r[1]) for r in conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name IN ({marks}) "
        "AND sql IS NOT NULL ORDER BY rowid", (kind, *TABLES))]


After = Callable[[sqlite3.Connection], object]


def load_after(spec: str) -> After:
    """``module:function`` (called with the connection) or a path to a ``.sql`` script."""
    if spec.endswith(".sql"):
        script = Path(spec).read_text(encoding="utf-8")
        return lambda conn: conn.executescript(script)
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"--after {spec!r}: give module:function or a .sql file")
    func: After = getattr(importlib.import_module(module), name)
    return func


def build(path: str | Path, shape: Shape, *, triggers: str = "live", indexes: str = "rebuild",
          after: Sequence[After] = (), batch: int = 100_000, commit_every: int = 1_000_000,
          progress: Callable[[str], None] | None = print) -> Built:
    """Build the database at ``path`` (replacing it). See the module's docstring."""
    if triggers not in ("live", "rebuild") or indexes not in ("live", "rebuild"):
        raise ValueError("triggers and indexes are 'live' or 'rebuild'")
    say = progress or (lambda _: None)
    final = Path(path)
    work = final.with_name(final.name + ".building")
    for p in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        p.unlink(missing_ok=True)
    started = time.perf_counter()
    asyncio.run(create_schema(work))
    conn = sqlite3.connect(work, isolation_level=None)
    built = Built(final)
    try:
        _check_columns(conn)
        # migration 004 draws it at random; callbacks' channel names hold it: seeded too
        installation = f"{random.Random(shape.seed).getrandbits(32):08x}"
        conn.execute("UPDATE installation SET uid = ?", (installation,))
        conn.execute("PRAGMA journal_mode=OFF")  # a failed build is thrown away whole
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB
        dropped_triggers = _schema_objects(conn, "trigger") if triggers == "rebuild" else []
        if dropped_triggers and not after:
            raise SystemExit("--triggers rebuild: the loaded tables have triggers ("
                             + ", ".join(n for n, _ in dropped_triggers) + "); give --after "
                             "hooks that rebuild what they maintain, or use --triggers live")
        dropped_indexes = _schema_objects(conn, "index") if indexes == "rebuild" else []
        for name, _ in dropped_triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for name, _ in dropped_indexes:
            conn.execute(f"DROP INDEX {name}")
        gen = Generator(shape, installation)
        built.first, built.last = gen.start, gen.end
        _load(conn, gen, built, batch, commit_every, say, started)
        built.insert_seconds = time.perf_counter() - started
        say(f"  inserted {_counts(built)} ({gen.open_callbacks} callbacks open) in "
            f"{built.insert_seconds:.0f} s")
        _restore(conn, dropped_indexes, dropped_triggers, after, built, say)
        built.open_callbacks = gen.open_callbacks
        conn.execute("PRAGMA journal_mode=WAL")  # as the service keeps it
    except BaseException:
        conn.close()
        for p in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
            p.unlink(missing_ok=True)
        raise
    conn.close()
    for p in (final, Path(f"{final}-wal"), Path(f"{final}-shm")):
        p.unlink(missing_ok=True)
    os.replace(work, final)
    built.seconds = time.perf_counter() - started
    return built


def _restore(conn: sqlite3.Connection, indexes: list[tuple[str, str]],
             triggers: list[tuple[str, str]], after: Sequence[After], built: Built,
             say: Callable[[str], None]) -> None:
    """Create the dropped indexes and triggers again, then run the hooks."""
    mark = time.perf_counter()
    for _name, sql in indexes:
        conn.execute(sql)
    built.index_seconds = time.perf_counter() - mark
    if indexes:
        say(f"  {len(indexes)} indexes created again in {built.index_seconds:.0f} s")
    mark = time.perf_counter()
    for _name, sql in triggers:
        conn.execute(sql)
    for hook in after:
        conn.execute("BEGIN")
        hook(conn)
        if conn.in_transaction:
            conn.execute("COMMIT")
    built.after_seconds = time.perf_counter() - mark
    if after:
        say(f"  --after hooks: {built.after_seconds:.0f} s")


def _load(conn: sqlite3.Connection, gen: Generator, built: Built, batch: int,
          commit_every: int, say: Callable[[str], None], started: float) -> None:
    since_commit, next_report = 0, 1_000_000
    conn.execute("BEGIN")
    for _day in gen.days():
        if len(gen.rows.calls) < batch:
            continue
        since_commit += _flush(conn, gen.rows, built)
        if since_commit >= commit_every:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            since_commit = 0
        if built.calls >= next_report:
            took = time.perf_counter() - started
            say(f"  {built.calls:>11,} calls  {built.rows / took:,.0f} rows/s")
            next_report += 1_000_000
    _flush(conn, gen.rows, built)
    conn.execute("COMMIT")


def _flush(conn: sqlite3.Connection, rows: Rows, built: Built) -> int:
    n = 0
    for table, columns in COLUMNS.items():
        made = rows.tables[table]
        conn.executemany(_insert(table, columns), made)
        built.counts[table] = built.counts.get(table, 0) + len(made)
        n += len(made)
        made.clear()
    return n


def verify(path: str | Path, sample: int = 2000) -> int:
    """Read a spread of rows back through the repositories' own converters (what the
    service does with every row it shows); raises on the first that cannot be read.
    Returns the rows read."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    read = 0
    try:
        for table, convert in (("calls", call_from_row), ("callbacks", callback_from_row),
                               ("cases", case_from_row)):
            total = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
            step = max(1, total // sample)
            for row in conn.execute(f"SELECT * FROM {table} WHERE rowid % ? = 0", (step,)):
                convert(row)
                read += 1
        read += _verify_lines(conn, sample // 10)
    finally:
        conn.close()
    return read


def _verify_lines(conn: sqlite3.Connection, sample: int) -> int:
    """Calls with queue_log lines: the ledger's fold of them (what GET /api/calls/{id}
    shows as stints) must give the call's own outcome and wait, as settling would."""
    total = conn.execute("SELECT max(rowid) FROM ledger_calls").fetchone()[0] or 0
    read = 0
    for (callid,) in conn.execute("SELECT callid FROM ledger_calls WHERE rowid % ? = 0",
                                  (max(1, total // sample),)).fetchall():
        call = call_from_row(conn.execute("SELECT * FROM calls WHERE linkedid = ?",
                                          (callid,)).fetchone())
        rows = conn.execute("SELECT * FROM ledger_lines WHERE callid = ? ORDER BY id",
                            (callid,)).fetchall()
        ledger = fold(callid, [line_from_row(r) for r in rows])
        if ledger.outcome is not call.outcome or abs((ledger.wait_seconds or 0)
                                                      - (call.wait_seconds or 0)) > 1.0:
            raise SystemExit(f"queue_log lines of {callid} say {ledger.outcome} after "
                             f"{ledger.wait_seconds} s; the call {call.outcome} after "
                             f"{call.wait_seconds} s")
        read += 1 + len(rows)
    return read


# --- the command ----------------------------------------------------------------------

def count(text: str) -> int:
    """``1000000``, ``1M``, ``50k``."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", help="database to write (replaced); default: a "
                        "temporary file, removed afterwards")
    parser.add_argument("--calls", type=count, default=None, help="calls (1000000, 1M, 50k)")
    parser.add_argument("--years", type=float, default=1.0)
    parser.add_argument("--end", type=datetime.fromisoformat, default=None,
                        help="the last moment of history, ISO 8601 with offset (default: now)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--growth", type=float, default=Shape.growth,
                        help="calls a year, year on year (0.06: 6 %% more each year)")
    parser.add_argument("--triggers", choices=("live", "rebuild"), default="live")
    parser.add_argument("--indexes", choices=("live", "rebuild"), default="rebuild")
    parser.add_argument("--after", action="append", default=[],
                        help="after the load: module:function or a .sql file (repeatable)")
    parser.add_argument("--no-ledger-lines", action="store_true",
                        help="no queue_log lines (ledger_lines, ledger_calls): a smaller, "
                        "faster database")
    parser.add_argument("--keep-personal", action="store_true",
                        help="anonymise nothing (default: as the retention purge leaves it)")
    args = parser.parse_args(argv)
    calls = args.calls or (50_000 if args.path is None else 1_000_000)
    shape = Shape(calls=calls, years=args.years, end=args.end, seed=args.seed, growth=args.growth,
                  keep_personal=args.keep_personal, ledger_lines=not args.no_ledger_lines)
    hooks = [load_after(spec) for spec in args.after]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        path = Path(args.path) if args.path else Path(tmp) / "history.sqlite3"
        print(f"building {path}: {calls:,} calls over {args.years:g} years "
              f"(seed {args.seed}, triggers {args.triggers}, indexes {args.indexes})")
        built = build(path, shape, triggers=args.triggers, indexes=args.indexes, after=hooks)
        size = path.stat().st_size / 2**20
        print(f"{built.rows:,} rows ({_counts(built)}) in {built.seconds:.1f} s: {built.rows_per_second:,.0f} "
              f"rows/s, {built.calls / built.seconds:,.0f} calls/s (insert "
              f"{built.insert_seconds:.0f} s, indexes {built.index_seconds:.0f} s); "
              f"{size:,.0f} MiB")
        print(f"history from {_iso(built.first)} to {_iso(built.last)}; "
              f"{verify(path):,} rows read back through the repositories")


if __name__ == "__main__":
    main()
