-- The capacity model's history (#14): every finished call a resident queued in, while
-- open, adds to one row per (queue, UTC half-hour it arrived in) and to the same row of all
-- queues ('*'), in the transaction that stores it: triggers on calls, as figure_days (013),
-- so the call log, the ledger's corrections and an erasure keep it exact. The model reads
-- the rows of its window (storage/capacity_repository.py): its six weeks cost the same
-- whatever the calls per week. UTC half-hours need no time zone (the model files each under
-- its local half-hour of the week), so this migration fills the table from the calls.
-- Queued: the outcomes domain/standards.py OFFERED_OUTCOMES names (the same list below;
-- tests/contract/test_capacity_history.py checks the table against them);
-- calls while closed are left out: nobody is staffed to answer them (they become callbacks).
CREATE TABLE capacity_half_hours (
    queue     TEXT NOT NULL,         -- '*': every queue
    start     INTEGER NOT NULL,      -- CAST(arrived_at / 1800 AS INTEGER): half-hours since 1970 UTC
    arrivals  INTEGER NOT NULL,      -- residents queued
    answered  INTEGER NOT NULL,
    talked    INTEGER NOT NULL,      -- answered, with a talk time
    talk_us   INTEGER NOT NULL,      -- their talk, microseconds: exact when added and taken away
    abandoned INTEGER NOT NULL,
    wait_us   INTEGER NOT NULL,      -- every queued resident's wait, microseconds
    PRIMARY KEY (queue, start)
) WITHOUT ROWID;

CREATE TRIGGER calls_capacity_insert AFTER INSERT ON calls WHEN NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO capacity_half_hours (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
    SELECT q.name, CAST(NEW.arrived_at / 1800 AS INTEGER), 1, (NEW.outcome = 'answered'),
           (NEW.outcome = 'answered' AND NEW.talk_seconds IS NOT NULL),
           (CASE WHEN NEW.outcome = 'answered'
                THEN coalesce(CAST(round(NEW.talk_seconds * 1000000) AS INTEGER), 0) ELSE 0 END),
           (NEW.outcome = 'abandoned'),
           coalesce(CAST(round(NEW.wait_seconds * 1000000) AS INTEGER), 0)
    FROM (SELECT NEW.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND NEW.out_of_hours = 0
      AND NEW.outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                              'exit_empty', 'left_queue')
    ON CONFLICT (queue, start) DO UPDATE SET
        arrivals = arrivals + excluded.arrivals, answered = answered + excluded.answered,
        talked = talked + excluded.talked, talk_us = talk_us + excluded.talk_us,
        abandoned = abandoned + excluded.abandoned, wait_us = wait_us + excluded.wait_us;
END;

CREATE TRIGGER calls_capacity_update
AFTER UPDATE OF arrived_at, outcome, queue, wait_seconds, talk_seconds, out_of_hours ON calls
WHEN OLD.outcome IS NOT NULL OR NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO capacity_half_hours (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
    SELECT q.name, CAST(OLD.arrived_at / 1800 AS INTEGER), -1, -(OLD.outcome = 'answered'),
           -(OLD.outcome = 'answered' AND OLD.talk_seconds IS NOT NULL),
           -(CASE WHEN OLD.outcome = 'answered'
                THEN coalesce(CAST(round(OLD.talk_seconds * 1000000) AS INTEGER), 0) ELSE 0 END),
           -(OLD.outcome = 'abandoned'),
           -coalesce(CAST(round(OLD.wait_seconds * 1000000) AS INTEGER), 0)
    FROM (SELECT OLD.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND OLD.out_of_hours = 0
      AND OLD.outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                              'exit_empty', 'left_queue')
    ON CONFLICT (queue, start) DO UPDATE SET
        arrivals = arrivals + excluded.arrivals, answered = answered + excluded.answered,
        talked = talked + excluded.talked, talk_us = talk_us + excluded.talk_us,
        abandoned = abandoned + excluded.abandoned, wait_us = wait_us + excluded.wait_us;
    INSERT INTO capacity_half_hours (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
    SELECT q.name, CAST(NEW.arrived_at / 1800 AS INTEGER), 1, (NEW.outcome = 'answered'),
           (NEW.outcome = 'answered' AND NEW.talk_seconds IS NOT NULL),
           (CASE WHEN NEW.outcome = 'answered'
                THEN coalesce(CAST(round(NEW.talk_seconds * 1000000) AS INTEGER), 0) ELSE 0 END),
           (NEW.outcome = 'abandoned'),
           coalesce(CAST(round(NEW.wait_seconds * 1000000) AS INTEGER), 0)
    FROM (SELECT NEW.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND NEW.out_of_hours = 0
      AND NEW.outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                              'exit_empty', 'left_queue')
    ON CONFLICT (queue, start) DO UPDATE SET
        arrivals = arrivals + excluded.arrivals, answered = answered + excluded.answered,
        talked = talked + excluded.talked, talk_us = talk_us + excluded.talk_us,
        abandoned = abandoned + excluded.abandoned, wait_us = wait_us + excluded.wait_us;
END;

CREATE TRIGGER calls_capacity_delete AFTER DELETE ON calls WHEN OLD.outcome IS NOT NULL
BEGIN
    INSERT INTO capacity_half_hours (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
    SELECT q.name, CAST(OLD.arrived_at / 1800 AS INTEGER), -1, -(OLD.outcome = 'answered'),
           -(OLD.outcome = 'answered' AND OLD.talk_seconds IS NOT NULL),
           -(CASE WHEN OLD.outcome = 'answered'
                THEN coalesce(CAST(round(OLD.talk_seconds * 1000000) AS INTEGER), 0) ELSE 0 END),
           -(OLD.outcome = 'abandoned'),
           -coalesce(CAST(round(OLD.wait_seconds * 1000000) AS INTEGER), 0)
    FROM (SELECT OLD.queue AS name UNION ALL SELECT '*') AS q
    WHERE q.name IS NOT NULL AND OLD.out_of_hours = 0
      AND OLD.outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                              'exit_empty', 'left_queue')
    ON CONFLICT (queue, start) DO UPDATE SET
        arrivals = arrivals + excluded.arrivals, answered = answered + excluded.answered,
        talked = talked + excluded.talked, talk_us = talk_us + excluded.talk_us,
        abandoned = abandoned + excluded.abandoned, wait_us = wait_us + excluded.wait_us;
END;

WITH queued AS (
    SELECT queue, arrived_at, outcome, talk_seconds, wait_seconds FROM calls
    WHERE out_of_hours = 0 AND outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                                           'exit_empty', 'left_queue'))
INSERT INTO capacity_half_hours (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
SELECT name, start, COUNT(*), SUM(outcome = 'answered'),
       SUM(outcome = 'answered' AND talk_seconds IS NOT NULL),
       SUM(CASE WHEN outcome = 'answered'
                THEN coalesce(CAST(round(talk_seconds * 1000000) AS INTEGER), 0) ELSE 0 END),
       SUM(outcome = 'abandoned'), SUM(coalesce(CAST(round(wait_seconds * 1000000) AS INTEGER), 0))
FROM (SELECT queue AS name, CAST(arrived_at / 1800 AS INTEGER) AS start, outcome, talk_seconds,
             wait_seconds FROM queued WHERE queue IS NOT NULL
      UNION ALL
      SELECT '*', CAST(arrived_at / 1800 AS INTEGER), outcome, talk_seconds, wait_seconds
      FROM queued)
GROUP BY name, start;
