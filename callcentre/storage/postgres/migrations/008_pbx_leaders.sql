-- Several instances on one database (#13): which instance consumes each PBX's events,
-- dials its callbacks and reads its queue_log. The leader holds a session advisory lock
-- (storage/postgres/leadership.py) and this row: ``term`` goes up by one at every
-- takeover, and every write the leader makes checks, in its own transaction, that the
-- term is still its own (PgDatabase.write: SELECT ... FOR SHARE), so a leader that was
-- paused or cut off and deposed meanwhile can write nothing more. ``renewed_at`` is
-- moved on by the leader every lease/3; a standby that finds it older than the lease
-- while the lock is still held cuts the silent leader's connections off
-- (pg_terminate_backend), which frees the lock, and takes over.
-- Numbered 008: 007 is the survey's (#15), written on another branch at the same time.
CREATE TABLE pbx_leaders (
    pbx         text PRIMARY KEY,
    term        bigint NOT NULL,
    instance    text NOT NULL,       -- the leader's instance name (its application_name)
    backend_pid integer NOT NULL,    -- the server process of its lock connection
    since       timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL
);

-- The term is stored with every write of calls and callbacks the leader makes: its write
-- transactions set callcentre.term (set_config, local to the transaction) beside the
-- check, and this trigger copies it into the row; writes outside any term (the API on a
-- standby, commands, SQLite's one process) leave it NULL. It says which leader wrote a
-- row last, and lets a test prove that a deposed one wrote nothing.
ALTER TABLE calls ADD COLUMN term bigint;
ALTER TABLE callbacks ADD COLUMN term bigint;
CREATE FUNCTION stamp_term() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.term := nullif(current_setting('callcentre.term', true), '')::bigint;
    RETURN NEW;
END $$;
CREATE TRIGGER calls_term BEFORE INSERT OR UPDATE ON calls
    FOR EACH ROW EXECUTE FUNCTION stamp_term();
CREATE TRIGGER callbacks_term BEFORE INSERT OR UPDATE ON callbacks
    FOR EACH ROW EXECUTE FUNCTION stamp_term();
