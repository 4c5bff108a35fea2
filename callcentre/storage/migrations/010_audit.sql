-- Who read a resident's record and who changed what (#12): one row per request a person's
-- token made (web/auth.py), append-only: the triggers refuse any change or removal.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    person  TEXT NOT NULL,            -- the token's person
    role    TEXT NOT NULL,
    action  TEXT NOT NULL,            -- read, change or refused
    method  TEXT NOT NULL,
    route   TEXT NOT NULL,            -- e.g. /api/callbacks/{id}
    target  TEXT NOT NULL DEFAULT '', -- the id or ref in the path, or the query of a list
    status  INTEGER NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
