-- Retention of residents' personal data (domain/retention.py, storage/retention_repository.py).
-- What each purge or erasure did: one row per run, counts per kind as JSON.
CREATE TABLE retention_runs (
    id          INTEGER PRIMARY KEY,
    trigger     TEXT NOT NULL,       -- purge (the daily task) or erase (a resident's request)
    started_at  REAL NOT NULL,
    finished_at REAL NOT NULL,
    changed     TEXT NOT NULL        -- JSON {"calls": n, "callbacks": n, "cases": n, "ledger_lines": n}
);
-- Records that still hold personal data, oldest first: the purge reads a batch from these
-- partial indexes, and an anonymised record drops out of them, so a run never re-reads what
-- it (or an earlier run) already did. The conditions are the repository's own (_PERSONAL).
CREATE INDEX calls_personal ON calls (arrived_at)
    WHERE caller IS NOT NULL OR caller_raw IS NOT NULL OR caller_name IS NOT NULL
       OR case_ref IS NOT NULL OR keyed_case_ref IS NOT NULL;
CREATE INDEX callbacks_personal ON callbacks (closed_at) WHERE phone != '';
CREATE INDEX cases_personal ON cases (updated_at) WHERE phone IS NOT NULL OR subject != '';
-- ENTERQUEUE lines hold the caller id: data is url|callerid|position, and the caller id is
-- there while the character after the first '|' is neither '|' nor the end.
CREATE INDEX ledger_lines_callers ON ledger_lines (at)
    WHERE event = 'ENTERQUEUE' AND instr(data, '|') > 0
      AND substr(data, instr(data, '|') + 1, 1) NOT IN ('', '|');
