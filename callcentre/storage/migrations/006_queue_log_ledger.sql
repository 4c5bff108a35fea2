-- Asterisk's queue_log, read as the ledger of truth (services/ledger.py).
-- The lines about calls, as read: the audit record each call is settled from.
CREATE TABLE ledger_lines (
    id     INTEGER PRIMARY KEY,
    at     REAL NOT NULL,        -- the line's time (whole seconds, UTC epoch)
    callid TEXT NOT NULL,        -- the caller channel's Uniqueid = calls.linkedid
    queue  TEXT NOT NULL,
    agent  TEXT NOT NULL,
    event  TEXT NOT NULL,
    data   TEXT NOT NULL         -- the event's own fields, '|'-joined as in the file
);
-- No uniqueness on the content: a resident who leaves with a key and is queued again within
-- the same second has two identical ENTERQUEUE lines. Each line is kept once because the
-- lines and the read position are stored in one transaction.
CREATE INDEX ledger_lines_callid ON ledger_lines (callid, id);
-- One row per call the ledger has lines for: settled (compared with the call log) or not.
CREATE TABLE ledger_calls (
    callid       TEXT PRIMARY KEY,
    last_line_at REAL NOT NULL,
    settled_at   REAL            -- NULL: lines arrived since the call was last settled
);
CREATE INDEX ledger_calls_unsettled ON ledger_calls (last_line_at) WHERE settled_at IS NULL;
-- Where reading stopped, per file: the same inode is resumed at the offset after a restart;
-- another inode means the file was rotated (the rest is read from the rotated file).
CREATE TABLE ledger_sources (
    path       TEXT PRIMARY KEY,
    device     INTEGER NOT NULL,
    inode      INTEGER NOT NULL,
    offset     INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
-- What settling found: NULL not yet compared; 'agrees'; or the differences, e.g.
-- 'outcome: abandoned -> answered; wait: 13.5 -> 9.0'. Never written by the call log.
ALTER TABLE calls ADD COLUMN ledger TEXT;
