-- Promised callbacks (callcentre/domain/callbacks.py). Times are UTC epoch seconds (REAL).
-- attempts and history are JSON arrays written whole with the row, so every change of a
-- callback is one UPDATE of one row: a crash never leaves half a change. version guards
-- against lost updates (the dialler and an agent changing the same callback).
CREATE TABLE callbacks (
    id                    INTEGER PRIMARY KEY,
    version               INTEGER NOT NULL,
    case_ref              TEXT,
    phone                 TEXT NOT NULL,     -- E.164
    reason                TEXT NOT NULL,
    language              TEXT NOT NULL,
    source                TEXT NOT NULL,     -- agent, queue_keypress, abandoned, out_of_hours
    promised_by           TEXT NOT NULL,
    owner                 TEXT,              -- NULL: the team
    not_before            REAL NOT NULL,
    due_by                REAL NOT NULL,
    original_due_by       REAL,
    extensions            INTEGER NOT NULL DEFAULT 0,
    created_at            REAL NOT NULL,
    closed_at             REAL,
    status                TEXT NOT NULL,     -- pending, dialling, needs_outcome, closed
    result                TEXT,              -- kept, late, missed, cancelled
    next_attempt_at       REAL,
    attempt_count         INTEGER NOT NULL DEFAULT 0,   -- derived, for reports
    first_attempt_in_time INTEGER,                      -- derived, for reports
    source_linkedid       TEXT UNIQUE,       -- the call it came from (automatic sources)
    attempts              TEXT NOT NULL DEFAULT '[]',
    history               TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX callbacks_open_by_phone ON callbacks (phone) WHERE status != 'closed';
CREATE INDEX callbacks_by_status ON callbacks (status, due_by);
CREATE INDEX callbacks_by_case ON callbacks (case_ref);
CREATE INDEX callbacks_by_deadline ON callbacks (due_by);
