"""All SQL about residents' personal data: retention purge, export and erasure (008_retention.sql).

Anonymising keeps every column a figure is read from (storage/standards_repository.py:
arrived_at, outcome, queue, wait_seconds, repeat_of, out_of_hours, ledger;
storage/callback_figures_repository.py: source, status, result, closed_result,
corrections, extensions, due_by, created_at, attempt_count, first_attempt_in_time) and
drops, per table:

- calls: caller, caller_raw, caller_name (the number and name) and the case link
  (case_ref, keyed_case_ref, case_link);
- callbacks: phone (''), reason (''), case_ref, each attempt's note and each history
  entry's reason (free text); who did what (staff) and the old/new values stay;
- cases: phone and subject ('': it is free text about the resident);
- ledger_lines: ENTERQUEUE's caller id (domain/retention.py blank_caller_id).

The ``_PERSONAL`` conditions are the partial indexes' of 008_retention.sql: change both.
SqlRetentionRepository runs them on either engine; each engine's subclass has the
statements in its own dialect (SQLite's json1 and instr, PostgreSQL's jsonb and strpos).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from callcentre.domain.retention import Changed, Kind, blank_caller_id
from callcentre.errors import Conflict
from callcentre.ports import RetentionRun
from callcentre.storage.db import Database
from callcentre.storage.rows import Row, Store, from_epoch, to_epoch

_PERSONAL = {
    Kind.CALLS: "(caller IS NOT NULL OR caller_raw IS NOT NULL OR caller_name IS NOT NULL"
                " OR case_ref IS NOT NULL OR keyed_case_ref IS NOT NULL)",
    Kind.CALLBACKS: "phone != ''",
    Kind.CASES: "(phone IS NOT NULL OR subject != '')",
    Kind.LEDGER_LINES: "event = 'ENTERQUEUE' AND instr(data, '|') > 0"
                       " AND substr(data, instr(data, '|') + 1, 1) NOT IN ('', '|')",
}
# (table, the time a record's period runs from, which records may be purged at all). The
# unary + keeps SQLite off the status and outcome indexes: a batch walks the partial index
# of 008 oldest first and stops, where the status index would sort every closed record
# (tests/adapters/test_retention_sqlite.py asks EXPLAIN QUERY PLAN).
_AGE = {
    Kind.CALLS: ("calls", "arrived_at", "+outcome IS NOT NULL"),
    Kind.CALLBACKS: ("callbacks", "closed_at", "+status = 'closed'"),
    Kind.CASES: ("cases", "updated_at", "+status = 'closed'"),
}
_ANONYMISE = {
    Kind.CALLS: "UPDATE calls SET caller = NULL, caller_raw = NULL, caller_name = NULL,"
                " case_ref = NULL, keyed_case_ref = NULL, case_link = NULL",
    Kind.CALLBACKS: "UPDATE callbacks SET phone = '', reason = '', case_ref = NULL,"
                    " attempts = (SELECT json_group_array(json_set(value, '$.note', NULL))"
                    " FROM json_each(attempts)),"
                    " history = (SELECT json_group_array(json_set(value, '$.reason', NULL))"
                    " FROM json_each(history))",
    Kind.CASES: "UPDATE cases SET phone = NULL, subject = ''",
}
_KEY = {Kind.CALLS: "id", Kind.CALLBACKS: "id", Kind.CASES: "ref"}
# A resident's records, by the number they were stored under.
_OF_NUMBER = {
    Kind.CALLS: "SELECT * FROM calls WHERE caller = ? ORDER BY id",
    Kind.CALLBACKS: "SELECT * FROM callbacks WHERE phone = ? ORDER BY id",
    Kind.CASES: "SELECT * FROM cases WHERE phone = ? OR ref IN (SELECT case_ref FROM calls"
                " WHERE caller = ?1) OR ref IN (SELECT case_ref FROM callbacks WHERE phone = ?1)"
                " ORDER BY ref",
    Kind.LEDGER_LINES: "SELECT * FROM ledger_lines WHERE callid IN"
                       " (SELECT linkedid FROM calls WHERE caller = ?) ORDER BY id",
}


class SqlRetentionRepository:
    """What both engines run alike; the statements in each engine's dialect are the
    subclass's class attributes."""

    _PERSONAL: dict[Kind, str] = _PERSONAL
    _ANONYMISE: dict[Kind, str] = _ANONYMISE
    _OF_NUMBER: dict[Kind, str] = _OF_NUMBER
    _AGE: dict[Kind, tuple[str, str, str]] = _AGE
    # the ENTERQUEUE lines of the calls whose linkedids are passed as one value
    _LINES_OF_CALLS = ("SELECT id, event, data FROM ledger_lines WHERE event = 'ENTERQUEUE'"
                       " AND callid IN (SELECT value FROM json_each(?))")

    def __init__(self, db: Store) -> None:
        self._db = db

    @staticmethod
    def _callids(linkedids: list[str]) -> Any:
        """The linkedids as _LINES_OF_CALLS takes them."""
        return json.dumps(linkedids)

    async def anonymise(self, kind: Kind, before: datetime, limit: int) -> int:
        async with self._db.write() as conn:
            if kind is Kind.LEDGER_LINES:
                rows = await conn.execute_fetchall(
                    f"SELECT id, event, data FROM ledger_lines WHERE {self._PERSONAL[kind]}"
                    " AND at < ? ORDER BY at LIMIT ?", (to_epoch(before), limit))
                return await _blank_lines(conn, list(rows))
            cur = await conn.execute(
                purge_batch(kind, self._PERSONAL, self._ANONYMISE, self._AGE),
                (to_epoch(before), limit))
            return int(cur.rowcount)

    async def export(self, number: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for kind, sql in self._OF_NUMBER.items():
            rows = await self._db.fetch_all(sql, (number,))
            out[kind.value] = [_plain(row) for row in rows]
        return out

    async def erase(self, number: str) -> Changed:
        async with self._db.write() as conn:
            await _refuse_open(conn, number)
            callids = [r[0] for r in await conn.execute_fetchall(
                "SELECT linkedid FROM calls WHERE caller = ?", (number,))]
            lines = await conn.execute_fetchall(self._LINES_OF_CALLS, (self._callids(callids),))
            counts = {Kind.LEDGER_LINES: await _blank_lines(conn, list(lines))}
            for kind, column in ((Kind.CALLS, "caller"), (Kind.CALLBACKS, "phone"),
                                 (Kind.CASES, "phone")):
                cur = await conn.execute(f"{self._ANONYMISE[kind]} WHERE {column} = ?",
                                         (number,))
                counts[kind] = cur.rowcount
        return Changed(counts)

    async def record_run(self, run: RetentionRun) -> None:
        changed = json.dumps({k.value: n for k, n in run.changed.counts.items()})
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO retention_runs (trigger, started_at, finished_at, changed)"
                " VALUES (?, ?, ?, ?)",
                (run.trigger, to_epoch(run.started_at), to_epoch(run.finished_at), changed))

    async def last_run(self) -> RetentionRun | None:
        row = await self._db.fetch_one("SELECT * FROM retention_runs ORDER BY id DESC LIMIT 1")
        if row is None:
            return None
        started, finished = from_epoch(row["started_at"]), from_epoch(row["finished_at"])
        assert started is not None and finished is not None
        counts = {Kind(k): n for k, n in json.loads(row["changed"]).items()}
        return RetentionRun(started, finished, Changed(counts), row["trigger"])


async def _blank_lines(conn: Any, rows: list[Row]) -> int:
    changed = [(blank_caller_id(r[1], r[2]), r[0]) for r in rows]
    changed = [(data, id_) for (data, id_), r in zip(changed, rows, strict=True) if data != r[2]]
    await conn.executemany("UPDATE ledger_lines SET data = ? WHERE id = ?", changed)
    return len(changed)


def purge_batch(kind: Kind, personal: dict[Kind, str] = _PERSONAL,
                anonymise: dict[Kind, str] = _ANONYMISE,
                ages: dict[Kind, tuple[str, str, str]] = _AGE) -> str:
    """anonymise()'s statement for calls, callbacks or cases: the oldest ``limit`` records
    that still hold personal data and whose period ran out ``before`` (in the words of
    the engine whose statements are passed; SQLite's by default)."""
    table, age, allowed = ages[kind]
    key = _KEY[kind]
    return (f"{anonymise[kind]} WHERE {key} IN (SELECT {key} FROM {table}"
            f" WHERE {personal[kind]} AND {age} < ? AND {allowed} ORDER BY {age} LIMIT ?)")


async def _refuse_open(conn: Any, number: str) -> None:
    """A callback still owed or a call in progress needs the number: close it first."""
    open_callbacks = [r[0] for r in await conn.execute_fetchall(
        "SELECT id FROM callbacks WHERE phone = ? AND status != 'closed'", (number,))]
    if open_callbacks:
        raise Conflict(f"callbacks {open_callbacks} are still open: cancel them first")
    live = list(await conn.execute_fetchall(
        "SELECT COUNT(*) FROM calls WHERE caller = ? AND outcome IS NULL", (number,)))
    if live and live[0][0]:
        raise Conflict("a call from this number is in progress: erase it once it has ended")


_TIMES = frozenset({"at", "not_before", "due_by", "original_due_by"})


def _plain(row: Row) -> dict[str, Any]:
    """A row as JSON values: JSON columns parsed, times in ISO 8601 (UTC)."""
    out = dict(row)
    for column, value in out.items():
        if column in ("attempts", "history", "corrections") and isinstance(value, str):
            out[column] = json.loads(value)
        elif (column in _TIMES or column.endswith("_at")) and isinstance(value, float):
            moment = from_epoch(value)
            out[column] = moment.isoformat() if moment else None
    return out


class SqliteRetentionRepository(SqlRetentionRepository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
