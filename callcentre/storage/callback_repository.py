"""All SQL about callbacks (migrations 002_callbacks.sql, 007_callback_corrections.sql)."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from callcentre.domain.callback_outcomes import corrections, first_result
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import (
    Attempt,
    AttemptOutcome,
    Callback,
    HistoryEntry,
    Result,
    Status,
    Told,
)
from callcentre.domain.paging import Keyset
from callcentre.domain.survey import callback_survey
from callcentre.errors import DuplicateCallback, NoSuchCallback, StaleCallback, StorageError
from callcentre.ports import CallbackQuery, DueEntry, Page
from callcentre.storage.db import Database
from callcentre.storage.filters import where
from callcentre.storage.rows import Row, Store, from_epoch, to_epoch

_TIMES = ("not_before", "due_by", "original_due_by", "created_at", "closed_at", "next_attempt_at")
_PLAIN = ("case_ref", "phone", "reason", "language", "source", "promised_by", "owner",
          "extensions", "status", "result", "source_linkedid", "site")
_DERIVED = ("attempt_count", "first_attempt_in_time", "closed_result", "corrections", "attempts",
            "history", "survey_offered", "survey_resolved", "survey_satisfaction")
_COLUMNS = _PLAIN + _TIMES + _DERIVED
INSERT = (f"INSERT INTO callbacks (version, {', '.join(_COLUMNS)}) "
           f"VALUES (1, {', '.join('?' * len(_COLUMNS))})")
_UPDATE = (f"UPDATE callbacks SET version = version + 1, {', '.join(f'{c} = ?' for c in _COLUMNS)}"
           " WHERE id = ? AND version = ?")


def _t(value: datetime | None) -> float | None:
    return to_epoch(value)


def _attempt_json(a: Attempt) -> dict[str, Any]:
    return {"n": a.number, "start": _t(a.started_at), "channel": a.channel_id, "agent": a.agent,
            "end": _t(a.ended_at), "outcome": a.outcome.value if a.outcome else None,
            "answered": _t(a.answered_at), "confirmed": a.confirmed, "manual": a.manual,
            "note": a.note, "amd": a.amd,
            "survey": [a.survey_offered, a.survey_resolved, a.survey_satisfaction]}


def _attempt(d: dict[str, Any]) -> Attempt:
    start = from_epoch(d["start"])
    assert start is not None
    offered, resolved, satisfaction = d.get("survey") or (False, None, None)  # none before #15
    return Attempt(d["n"], start, d["channel"], d["agent"], from_epoch(d["end"]),
                   AttemptOutcome(d["outcome"]) if d["outcome"] else None,
                   from_epoch(d["answered"]), d["confirmed"], d.get("amd"), d["manual"],
                   d["note"], bool(offered), resolved, satisfaction)


def _entry_json(h: HistoryEntry) -> dict[str, Any]:
    return {"at": _t(h.at), "by": h.by, "action": h.action, "old": h.old, "new": h.new,
            "reason": h.reason, "told": h.told.value if h.told else None}


def _entry(d: dict[str, Any]) -> HistoryEntry:
    at = from_epoch(d["at"])
    assert at is not None
    return HistoryEntry(at, d["by"], d["action"], d["old"], d["new"], d["reason"],
                        Told(d["told"]) if d["told"] else None)


def callback_values(cb: Callback) -> tuple[Any, ...]:
    plain = (cb.case_ref, cb.phone, cb.reason, cb.language, cb.source.value, cb.promised_by,
             cb.owner, cb.extensions, cb.status.value, cb.result.value if cb.result else None,
             cb.source_linkedid, cb.site)
    times = tuple(_t(getattr(cb, c)) for c in _TIMES)
    first = cb.first_attempt_in_time
    closed, fixes = first_result(cb), corrections(cb)
    derived = (cb.counted_attempts, None if first is None else int(first),
               closed.value if closed else None,
               json.dumps([f"{old}>{new}" for old, new in fixes]) if fixes else None,
               json.dumps([_attempt_json(a) for a in cb.attempts]),
               json.dumps([_entry_json(h) for h in cb.history]), *callback_survey(cb))
    return plain + times + derived


def callback_from_row(row: Row) -> Callback:
    times = {c: from_epoch(row[c]) for c in _TIMES}
    not_before, due_by = times.pop("not_before"), times.pop("due_by")
    created = times.pop("created_at")
    assert not_before is not None and due_by is not None and created is not None
    return Callback(
        case_ref=row["case_ref"], phone=row["phone"], reason=row["reason"],
        source=Source(row["source"]), promised_by=row["promised_by"], not_before=not_before,
        due_by=due_by, created_at=created, language=row["language"], owner=row["owner"],
        status=Status(row["status"]), result=Result(row["result"]) if row["result"] else None,
        attempts=tuple(_attempt(d) for d in json.loads(row["attempts"])),
        history=tuple(_entry(d) for d in json.loads(row["history"])),
        extensions=row["extensions"], source_linkedid=row["source_linkedid"], site=row["site"],
        id=row["id"], version=row["version"], **times)


class SqlCallbackRepository:
    """What both engines run alike; each engine's subclass says how a new callback's id is
    read and what a second callback for the same call raises."""

    _TAKEN: tuple[type[Exception], ...] = ()
    _STEER = False  # list_query's unary + (SQLite's)
    # The dialler's rebuild: the pending callbacks due to be tried before a time, read from
    # the partial index callbacks_due alone (it holds id and due_by as well).
    _DUE_BEFORE = ("SELECT id, next_attempt_at, due_by FROM callbacks "
                   "WHERE status = 'pending' AND next_attempt_at < ? {site}"
                   "ORDER BY next_attempt_at, id")

    def __init__(self, db: Store) -> None:
        self._db = db

    @staticmethod
    async def _insert(conn: Any, values: tuple[Any, ...]) -> int:
        """Run INSERT with ``values``; the new callback's id."""
        raise NotImplementedError

    async def add(self, callback: Callback) -> Callback:
        try:
            async with self._db.write() as conn:
                new_id = await self._insert(conn, callback_values(callback))
        except StorageError as err:
            if isinstance(err.__cause__, self._TAKEN):
                raise DuplicateCallback(
                    f"a callback for call {callback.source_linkedid} already exists") from err
            raise
        return replace(callback, id=new_id, version=1)

    async def update(self, callback: Callback) -> Callback:
        async with self._db.write() as conn:
            cur = await conn.execute(
                _UPDATE, (*callback_values(callback), callback.id, callback.version))
            if cur.rowcount == 0:
                rows = list(await conn.execute_fetchall(
                    "SELECT 1 FROM callbacks WHERE id = ?", (callback.id,)))
                if not rows:
                    raise NoSuchCallback(callback.id)
                raise StaleCallback(f"callback {callback.id} changed meanwhile")
        return replace(callback, version=callback.version + 1)

    async def get(self, callback_id: int) -> Callback:
        row = await self._db.fetch_one("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
        if row is None:
            raise NoSuchCallback(callback_id)
        return self._db.unreadable.one("callbacks", row, callback_from_row)

    async def find(self, query: CallbackQuery) -> Page[Callback]:
        rows = await self._db.fetch_all(*list_query(query, self._STEER))
        items = self._db.unreadable.read("callbacks", rows[: query.limit], callback_from_row)
        more = len(rows) > query.limit
        return Page(items, _key(rows[query.limit - 1]) if more and query.limit else None)

    async def open_for_phone(self, phone: str) -> list[Callback]:
        rows = await self._db.fetch_all(
            "SELECT * FROM callbacks WHERE phone = ? AND status != 'closed' ORDER BY id", (phone,))
        return self._db.unreadable.read("callbacks", rows, callback_from_row)

    async def due_before(self, until: datetime, site: str | None = None) -> list[DueEntry]:
        if site is None:
            rows = await self._db.fetch_all(self._DUE_BEFORE.format(site=""), (_t(until),))
        else:
            rows = await self._db.fetch_all(self._DUE_BEFORE.format(site="AND site = ? "),
                                            (_t(until), site))
        return self._db.unreadable.read("callbacks", rows, _due_entry)

    async def with_status(self, *statuses: Status, site: str | None = None) -> list[Callback]:
        marks = ",".join("?" * len(statuses))
        also, args = ("", []) if site is None else (" AND site = ?", [site])
        rows = await self._db.fetch_all(
            f"SELECT * FROM callbacks WHERE status IN ({marks}){also} ORDER BY due_by, id",
            [*(s.value for s in statuses), *args])
        return self._db.unreadable.read("callbacks", rows, callback_from_row)

    async def open_elsewhere(self, sites: Sequence[str]) -> list[Callback]:
        marks = ",".join("?" * len(sites))
        rows = await self._db.fetch_all(
            f"SELECT * FROM callbacks WHERE status != 'closed' AND site NOT IN ({marks}) "
            "ORDER BY due_by, id", list(sites))
        return self._db.unreadable.read("callbacks", rows, callback_from_row)


def _due_entry(r: Row) -> DueEntry:
    return DueEntry(r["id"], _aware(r["next_attempt_at"]), _aware(r["due_by"]))


def _aware(value: float) -> datetime:
    moment = from_epoch(value)
    assert moment is not None
    return moment


def list_query(q: CallbackQuery, steer: bool = True) -> tuple[str, list[Any]]:
    """find()'s one statement: a page and one more row, by deadline. SQLite walks an index
    that ends in due_by (migrations 002 and 017) and stops after the page, never sorting;
    tests/adapters/test_callback_plans.py asks EXPLAIN QUERY PLAN for every filter.
    ``steer``: SQLite's unary + (PostgreSQL's planner needs none and has no + for text)."""
    where, args = _where(q, steer)
    order = "ASC" if q.soonest_first else "DESC"
    return (f"SELECT * FROM callbacks {where} ORDER BY due_by {order}, id {order} LIMIT ?",
            [*args, q.limit + 1])


def _where(q: CallbackQuery, steer: bool) -> tuple[str, list[Any]]:
    # A case or a number has a handful of callbacks: with one, its own index serves the
    # list and the rest is only checked (a unary + keeps SQLite off their indexes).
    few = steer and (q.case_ref is not None or q.phone is not None)
    only = "+" if few else ""
    after = "(due_by, id) > (?, ?)" if q.soonest_first else "(due_by, id) < (?, ?)"
    return where((
        (f"{only}status = ?", q.status.value if q.status else None),
        (f"{only}owner = ?", q.owner),
        ("due_by >= ?", _t(q.due_from)),
        ("due_by < ?", _t(q.due_until)),
        ("case_ref = ?", q.case_ref),
        (f"{'+' if steer and q.case_ref is not None else ''}phone = ?", q.phone),
        (after, (q.cursor.at, q.cursor.id) if q.cursor else None),
    ))


class SqliteCallbackRepository(SqlCallbackRepository):
    _TAKEN = (sqlite3.IntegrityError,)
    _STEER = True
    # Without the hint SQLite took callbacks_by_status (status = ?): every pending callback,
    # then a sort (0.15 s for 51,000 spread over ten days; migrations/023_callbacks_due.sql).
    _DUE_BEFORE = SqlCallbackRepository._DUE_BEFORE.replace(
        "FROM callbacks ", "FROM callbacks INDEXED BY callbacks_due ")

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    @staticmethod
    async def _insert(conn: Any, values: tuple[Any, ...]) -> int:
        cur = await conn.execute(INSERT, values)
        return int(cur.lastrowid)


def _key(row: Row) -> Keyset:
    due = row["due_by"]  # text (a hand edit) sorts above every number: go on below it
    return Keyset(float(due) if isinstance(due, int | float) else sys.float_info.max, row["id"])
