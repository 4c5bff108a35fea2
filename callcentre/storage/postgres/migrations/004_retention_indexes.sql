-- The ENTERQUEUE lines that still hold a caller id (SQLite's 008_retention.sql, in
-- PostgreSQL's words): the purge reads a batch of the oldest from this partial index. The
-- condition is postgres/retention.py's _PERSONAL, word for word: change both.
CREATE INDEX ledger_lines_callers ON ledger_lines (at)
    WHERE event = 'ENTERQUEUE' AND strpos(data, '|') > 0
      AND substr(data, strpos(data, '|') + 1, 1) NOT IN ('', '|');
