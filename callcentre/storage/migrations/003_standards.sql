-- Reporting: a covering index so a day's figures are read from the index alone,
-- and a cache of the figures of days that are over (their calls can no longer change).
CREATE INDEX calls_reporting ON calls (arrived_at, outcome, queue, wait_seconds, repeat_of, out_of_hours);
-- lets the list of queues be read by jumping from one queue to the next (see queues())
CREATE INDEX calls_queue ON calls (queue);

CREATE TABLE standards_days (
    day         TEXT NOT NULL,   -- council-local date, YYYY-MM-DD
    queue       TEXT NOT NULL,   -- '*' for all queues
    figures     TEXT NOT NULL,   -- JSON of domain.standards.Figures
    computed_at REAL NOT NULL,
    PRIMARY KEY (day, queue)
);
