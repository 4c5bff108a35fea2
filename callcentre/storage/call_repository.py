"""All SQL about calls."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from callcentre.domain.calls import Call, CaseLink, EndSource, Outcome
from callcentre.domain.paging import Keyset
from callcentre.errors import NoSuchCall, StorageError
from callcentre.ports import CallQuery, Page, RepeatQuery
from callcentre.storage.db import Database
from callcentre.storage.filters import where
from callcentre.storage.rows import Row, Store, from_epoch, to_epoch

_TIMES = ("arrived_at", "queued_at", "answered_at", "left_queue_at", "talk_ended_at",
          "ended_at", "last_event_at")
_PLAIN = ("linkedid", "channel", "caller", "caller_raw", "caller_name", "dialled",
          "out_of_hours", "queue", "join_position", "agent_interface", "agent_name",
          "abandoned", "abandon_position", "queue_status", "hangup_cause", "outcome",
          "end_source", "keyed_case_ref", "case_ref", "case_link", "repeat_of",
          "survey_offered", "survey_resolved", "survey_satisfaction", "language")
_DERIVED = ("wait_seconds", "talk_seconds")
COLUMNS = _PLAIN + _TIMES + _DERIVED
# An agent's link (PATCH /api/calls/{id}) wins over what the tracker later saves.
_KEEP_AGENT_LINK = {
    "case_ref": "CASE WHEN calls.case_link = 'agent' THEN calls.case_ref "
                "ELSE excluded.case_ref END",
    "case_link": "CASE WHEN calls.case_link = 'agent' THEN 'agent' ELSE excluded.case_link END",
    "repeat_of": "COALESCE(calls.repeat_of, excluded.repeat_of)",
}
UPSERT = (
    f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT(linkedid) DO UPDATE SET "
    + ", ".join(f"{c} = {_KEEP_AGENT_LINK.get(c, f'excluded.{c}')}" for c in COLUMNS[1:])
    + " WHERE calls.outcome IS NULL"  # a finished call is never reopened or rewritten
)


# One correlated lookup per row of q: the same query as previous_from, for many calls.
_PREVIOUS_FROM_EACH = (
    "WITH q(n, q_caller, q_since, q_before, q_linkedid) AS (VALUES {rows}) "
    "SELECT (SELECT id FROM calls WHERE caller = q_caller AND arrived_at >= q_since "
    "AND arrived_at < q_before AND linkedid != q_linkedid ORDER BY arrived_at DESC LIMIT 1) "
    "FROM q ORDER BY n"
)
_QUERIES_PER_READ = 100  # 5 variables each: stay under SQLite's variable limit


def row_values(call: Call) -> tuple[Any, ...]:
    plain = tuple(getattr(call, c) for c in _PLAIN)
    times = tuple(to_epoch(getattr(call, c)) for c in _TIMES)
    return plain + times + (call.wait_seconds, call.talk_seconds)


def call_from_row(row: Row) -> Call:
    values: dict[str, Any] = {c: row[c] for c in _PLAIN}
    values.update({c: from_epoch(row[c]) for c in _TIMES})
    values["out_of_hours"] = bool(values["out_of_hours"])
    values["abandoned"] = bool(values["abandoned"])
    values["survey_offered"] = bool(values["survey_offered"])
    resolved = values["survey_resolved"]
    values["survey_resolved"] = None if resolved is None else bool(resolved)
    values["outcome"] = Outcome(values["outcome"]) if values["outcome"] else None
    values["end_source"] = EndSource(values["end_source"]) if values["end_source"] else None
    values["case_link"] = CaseLink(values["case_link"]) if values["case_link"] else None
    return Call(id=row["id"], ledger=row["ledger"], wrapup_code=row["wrapup_code"], **values)


class SqlCallRepository:
    """What both engines run alike (SQL valid in SQLite and PostgreSQL); each engine's
    subclass says how a batch is saved and how repeats are looked up together."""

    def __init__(self, db: Store) -> None:
        self._db = db

    async def get(self, call_id: int) -> Call:
        row = await self._db.fetch_one("SELECT * FROM calls WHERE id = ?", (call_id,))
        if row is None:
            raise NoSuchCall(call_id)
        return self._db.unreadable.one("calls", row, call_from_row)

    async def find(self, query: CallQuery) -> Page[Call]:
        rows = await self._db.fetch_all(*self._list_query(query))
        items = self._db.unreadable.read("calls", rows[: query.limit], call_from_row)
        more = len(rows) > query.limit
        return Page(items, keyset_of(rows[query.limit - 1]) if more and query.limit else None)

    def _list_query(self, query: CallQuery) -> tuple[str, list[Any]]:
        return page_query(where(call_filters(query)), query.limit)

    async def unfinished(self) -> list[Call]:
        return self._db.unreadable.read("calls", await self._db.fetch_all(
            "SELECT * FROM calls WHERE outcome IS NULL ORDER BY id"), call_from_row)

    async def previous_from(self, caller: str, since: datetime, before: datetime,
                            exclude_linkedid: str) -> int | None:
        row = await self._db.fetch_one(
            "SELECT id FROM calls WHERE caller = ? AND arrived_at >= ? AND arrived_at < ? "
            "AND linkedid != ? ORDER BY arrived_at DESC LIMIT 1",
            (caller, to_epoch(since), to_epoch(before), exclude_linkedid))
        return None if row is None else int(row[0])

    async def set_wrapup(self, call_id: int, code: str | None) -> Call:
        async with self._db.write() as conn:
            cur = await conn.execute("UPDATE calls SET wrapup_code = ? WHERE id = ?",
                                     (code, call_id))
            if cur.rowcount == 0:
                raise NoSuchCall(call_id)
        return await self.get(call_id)

    async def link_case(self, call_id: int, case_ref: str | None, link: CaseLink | None) -> Call:
        async with self._db.write() as conn:
            cur = await conn.execute(
                "UPDATE calls SET case_ref = ?, case_link = ? WHERE id = ?",
                (case_ref, link.value if link else None, call_id))
            if cur.rowcount == 0:
                raise NoSuchCall(call_id)
        return await self.get(call_id)


class SqliteCallRepository(SqlCallRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)

    def _list_query(self, query: CallQuery) -> tuple[str, list[Any]]:
        return list_query(query)

    async def save(self, calls: Sequence[Call]) -> list[Call]:
        if not calls:
            return []
        linkedids = [c.linkedid for c in calls]
        async with self._db.write() as conn:
            await conn.executemany(UPSERT, [row_values(c) for c in calls])
            rows = await self._by_linkedids(conn, linkedids)
        stored = {row["linkedid"]: call_from_row(row) for row in rows}
        return [stored[c.linkedid] for c in calls]

    @staticmethod
    async def _by_linkedids(conn: Any, linkedids: list[str]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        for start in range(0, len(linkedids), 500):  # stay under SQLite's variable limit
            chunk = linkedids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(await conn.execute_fetchall(
                f"SELECT * FROM calls WHERE linkedid IN ({marks})", chunk))
        return rows

    async def previous_from_each(self, queries: Sequence[RepeatQuery]) -> list[int | None]:
        answers: list[int | None] = []
        for start in range(0, len(queries), _QUERIES_PER_READ):
            chunk = queries[start:start + _QUERIES_PER_READ]
            args = [value for n, q in enumerate(chunk) for value in
                    (n, q.caller, to_epoch(q.since), to_epoch(q.before), q.exclude_linkedid)]
            sql = _PREVIOUS_FROM_EACH.format(rows=", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)))
            rows = await self._db.fetch_all(sql, args)
            answers.extend(None if row[0] is None else int(row[0]) for row in rows)
        return answers


def list_query(q: CallQuery) -> tuple[str, list[Any]]:
    """find()'s one statement in SQLite: a page and one more row, newest first. SQLite walks
    an index that ends in arrived_at (migration 015) and stops after the page, never sorting
    a window; tests/adapters/test_call_plans.py asks EXPLAIN QUERY PLAN for every filter.
    A case has a handful of calls: with one, its index serves the list and queue and
    outcome are only checked (a unary + keeps SQLite from walking their index instead)."""
    return page_query(where(call_filters(q, "+" if q.case_ref is not None else "")), q.limit)


def page_query(clause: tuple[str, list[Any]], limit: int) -> tuple[str, list[Any]]:
    """A page of calls and one more row, newest first, under a WHERE clause."""
    where, args = clause
    return (f"SELECT * FROM calls {where} ORDER BY arrived_at DESC, id DESC LIMIT ?",
            [*args, limit + 1])


def call_filters(q: CallQuery, only: str = "") -> tuple[tuple[str, Any], ...]:
    """find()'s filters for storage/filters.py where(); ``only`` prefixes queue and outcome."""
    return (
        ("arrived_at >= ?", to_epoch(q.since)),
        ("arrived_at < ?", to_epoch(q.until)),
        (f"{only}queue = ?", q.queue),
        (f"{only}outcome = ?", q.outcome.value if q.outcome else None),
        ("case_ref = ?", q.case_ref),
        ("(arrived_at, id) < (?, ?)", (q.cursor.at, q.cursor.id) if q.cursor else None),
    )


def keyset_of(row: Row) -> Keyset:
    at = row["arrived_at"]  # text (a hand edit) sorts above every number: go on below it
    return Keyset(float(at) if isinstance(at, int | float) else sys.float_info.max, row["id"])


__all__ = ["COLUMNS", "UPSERT", "SqlCallRepository", "SqliteCallRepository", "StorageError",
           "call_filters", "call_from_row", "keyset_of", "list_query", "page_query", "row_values"]
