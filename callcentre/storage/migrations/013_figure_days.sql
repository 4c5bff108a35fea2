-- Figures that cost the days shown, not the history (#16). Every finished call adds to
-- one row per (queue, council-local day, outcome, wait bucket) and to the same row of all
-- queues ('*'), in the same transaction that stores it: triggers on calls, so every way a
-- call is written (the call log, the ledger's settling, an erasure) keeps them exact. A
-- report reads the rows of the days and queue it shows. `callcentre rebuild-figures`
-- recounts them from the calls and says whether they agree.
--
-- A council-local day is looked up in local_days: the instant each day starts, written by
-- the service for its time zone (storage/standards_repository.py prepare(); a migration
-- never knows the zone). Until then, and for a call outside its range, the day is ''.
CREATE TABLE local_days (
    start REAL PRIMARY KEY,          -- epoch seconds of the local midnight
    day   TEXT NOT NULL              -- YYYY-MM-DD
) WITHOUT ROWID;

CREATE TABLE local_days_zone (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    tz TEXT NOT NULL                 -- the zone local_days and figure_days were built for
);

CREATE TABLE figure_days (
    queue     TEXT NOT NULL,         -- '*': every call, with or without a queue
    day       TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    bucket    INTEGER NOT NULL,      -- whole-second wait bucket (domain.standards.wait_bucket); -1: no wait
    n         INTEGER NOT NULL,
    wait_us   INTEGER NOT NULL,      -- summed waits in microseconds: exact when added and taken away
    repeats   INTEGER NOT NULL,
    ooh       INTEGER NOT NULL,
    checked   INTEGER NOT NULL,      -- held against queue_log
    corrected INTEGER NOT NULL,      -- of which queue_log corrected
    PRIMARY KEY (queue, day, outcome, bucket)
) WITHOUT ROWID;

CREATE TRIGGER calls_figures_insert AFTER INSERT ON calls WHEN NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO figure_days (queue, day, outcome, bucket, n, wait_us, repeats, ooh, checked, corrected)
    SELECT q.name, coalesce((SELECT day FROM local_days WHERE start <= NEW.arrived_at
                             ORDER BY start DESC LIMIT 1), ''),
           NEW.outcome,
           coalesce(CAST(NEW.wait_seconds AS INTEGER)
                    + (NEW.wait_seconds > CAST(NEW.wait_seconds AS INTEGER)), -1),
           1, coalesce(CAST(round(NEW.wait_seconds * 1000000) AS INTEGER), 0),
           (NEW.repeat_of IS NOT NULL), NEW.out_of_hours, (NEW.ledger IS NOT NULL),
           (NEW.ledger IS NOT NULL AND NEW.ledger != 'agrees')
    FROM (SELECT NEW.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND NEW.outcome IS NOT NULL
    ON CONFLICT (queue, day, outcome, bucket) DO UPDATE SET
        n = n + excluded.n, wait_us = wait_us + excluded.wait_us,
        repeats = repeats + excluded.repeats, ooh = ooh + excluded.ooh,
        checked = checked + excluded.checked, corrected = corrected + excluded.corrected;
END;

CREATE TRIGGER calls_figures_update
AFTER UPDATE OF arrived_at, outcome, queue, wait_seconds, repeat_of, out_of_hours, ledger ON calls
WHEN OLD.outcome IS NOT NULL OR NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO figure_days (queue, day, outcome, bucket, n, wait_us, repeats, ooh, checked, corrected)
    SELECT q.name, coalesce((SELECT day FROM local_days WHERE start <= OLD.arrived_at
                             ORDER BY start DESC LIMIT 1), ''),
           OLD.outcome,
           coalesce(CAST(OLD.wait_seconds AS INTEGER)
                    + (OLD.wait_seconds > CAST(OLD.wait_seconds AS INTEGER)), -1),
           -1, -coalesce(CAST(round(OLD.wait_seconds * 1000000) AS INTEGER), 0),
           -(OLD.repeat_of IS NOT NULL), -OLD.out_of_hours, -(OLD.ledger IS NOT NULL),
           -(OLD.ledger IS NOT NULL AND OLD.ledger != 'agrees')
    FROM (SELECT OLD.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND OLD.outcome IS NOT NULL
    ON CONFLICT (queue, day, outcome, bucket) DO UPDATE SET
        n = n + excluded.n, wait_us = wait_us + excluded.wait_us,
        repeats = repeats + excluded.repeats, ooh = ooh + excluded.ooh,
        checked = checked + excluded.checked, corrected = corrected + excluded.corrected;
    INSERT INTO figure_days (queue, day, outcome, bucket, n, wait_us, repeats, ooh, checked, corrected)
    SELECT q.name, coalesce((SELECT day FROM local_days WHERE start <= NEW.arrived_at
                             ORDER BY start DESC LIMIT 1), ''),
           NEW.outcome,
           coalesce(CAST(NEW.wait_seconds AS INTEGER)
                    + (NEW.wait_seconds > CAST(NEW.wait_seconds AS INTEGER)), -1),
           1, coalesce(CAST(round(NEW.wait_seconds * 1000000) AS INTEGER), 0),
           (NEW.repeat_of IS NOT NULL), NEW.out_of_hours, (NEW.ledger IS NOT NULL),
           (NEW.ledger IS NOT NULL AND NEW.ledger != 'agrees')
    FROM (SELECT NEW.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND NEW.outcome IS NOT NULL
    ON CONFLICT (queue, day, outcome, bucket) DO UPDATE SET
        n = n + excluded.n, wait_us = wait_us + excluded.wait_us,
        repeats = repeats + excluded.repeats, ooh = ooh + excluded.ooh,
        checked = checked + excluded.checked, corrected = corrected + excluded.corrected;
END;

CREATE TRIGGER calls_figures_delete AFTER DELETE ON calls WHEN OLD.outcome IS NOT NULL
BEGIN
    INSERT INTO figure_days (queue, day, outcome, bucket, n, wait_us, repeats, ooh, checked, corrected)
    SELECT q.name, coalesce((SELECT day FROM local_days WHERE start <= OLD.arrived_at
                             ORDER BY start DESC LIMIT 1), ''),
           OLD.outcome,
           coalesce(CAST(OLD.wait_seconds AS INTEGER)
                    + (OLD.wait_seconds > CAST(OLD.wait_seconds AS INTEGER)), -1),
           -1, -coalesce(CAST(round(OLD.wait_seconds * 1000000) AS INTEGER), 0),
           -(OLD.repeat_of IS NOT NULL), -OLD.out_of_hours, -(OLD.ledger IS NOT NULL),
           -(OLD.ledger IS NOT NULL AND OLD.ledger != 'agrees')
    FROM (SELECT OLD.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND OLD.outcome IS NOT NULL
    ON CONFLICT (queue, day, outcome, bucket) DO UPDATE SET
        n = n + excluded.n, wait_us = wait_us + excluded.wait_us,
        repeats = repeats + excluded.repeats, ooh = ooh + excluded.ooh,
        checked = checked + excluded.checked, corrected = corrected + excluded.corrected;
END;

-- the cache of settled days these figures replace (it was recomputed from the calls)
DROP TABLE standards_days;
