-- The dialler's rebuild at start-up and after a lost notice (due_before in
-- storage/callback_repository.py) reads the pending callbacks to try before a time. With
-- 002's callbacks_due (next_attempt_at alone) SQLite's planner preferred callbacks_by_status
-- (status = 'pending': every pending callback, then a sort) and read each wide row for due_by;
-- this one holds every column the read needs (status too: SQLite reads the condition's
-- column from the index only if the index has it), in its order, and the query names it
-- (INDEXED BY). PostgreSQL's callbacks_due (001_schema.sql) already serves it.
DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (next_attempt_at, id, due_by, status)
    WHERE status = 'pending';
