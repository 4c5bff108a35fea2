-- Times are UTC epoch seconds (REAL): exact to the microsecond, sortable, cheap to compare.
CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    linkedid         TEXT NOT NULL UNIQUE,
    channel          TEXT NOT NULL,
    arrived_at       REAL NOT NULL,
    caller           TEXT,             -- E.164, or NULL when withheld/invalid
    caller_raw       TEXT,
    caller_name      TEXT,
    dialled          TEXT,
    out_of_hours     INTEGER NOT NULL DEFAULT 0,
    queue            TEXT,
    queued_at        REAL,
    join_position    INTEGER,
    answered_at      REAL,
    agent_interface  TEXT,
    agent_name       TEXT,
    left_queue_at    REAL,
    abandoned        INTEGER NOT NULL DEFAULT 0,
    abandon_position INTEGER,
    queue_status     TEXT,
    talk_ended_at    REAL,
    ended_at         REAL,
    hangup_cause     INTEGER,
    outcome          TEXT,             -- NULL while the call is in progress
    end_source       TEXT,
    keyed_case_ref   TEXT,
    case_ref         TEXT,
    case_link        TEXT,
    repeat_of        INTEGER REFERENCES calls(id),
    last_event_at    REAL,
    wait_seconds     REAL,             -- derived, stored for reporting
    talk_seconds     REAL
);
CREATE INDEX calls_arrived ON calls (arrived_at);
CREATE INDEX calls_caller ON calls (caller, arrived_at);
CREATE INDEX calls_case ON calls (case_ref);
CREATE INDEX calls_in_progress ON calls (id) WHERE outcome IS NULL;

CREATE TABLE cases (
    ref        TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    status     TEXT NOT NULL,
    phone      TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX cases_open_by_phone ON cases (phone, created_at) WHERE status = 'open';

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,       -- sha256 of the bearer token; the token itself is never stored
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at REAL NOT NULL
);
