-- The capacity model's history (#14; SQLite's 019_capacity_half_hours.sql, whose comments
-- say why): every finished call a resident queued in, while open, adds to one row per
-- (queue, UTC half-hour it arrived in) and to the same row of all queues ('*'), kept by a
-- trigger on calls in the transaction that stores the call. What one call adds is said
-- once, in call_capacity(): the trigger adds the new row's and takes away the old row's,
-- this migration's fill and the rebuild (postgres/capacity.py) sum it over every call.
-- Queued: domain/standards.py's OFFERED_OUTCOMES (tests/contract/test_capacity_history.py
-- checks the table against them). SQLite's trigger bodies say the same in its own dialect:
-- change them together.
CREATE TABLE capacity_half_hours (
    queue     text NOT NULL,      -- '*': every queue
    start     integer NOT NULL,   -- trunc(arrived_at / 1800): half-hours since 1970 UTC
    arrivals  integer NOT NULL,   -- residents queued
    answered  integer NOT NULL,
    talked    integer NOT NULL,   -- answered, with a talk time
    talk_us   bigint NOT NULL,    -- their talk, microseconds: exact when added and taken away
    abandoned integer NOT NULL,
    wait_us   bigint NOT NULL,    -- every queued resident's wait, microseconds
    PRIMARY KEY (queue, start)
);

-- What call c adds (sign 1) or takes away (sign -1): nothing unless it finished queued
-- while open. The half-hour: SQLite's CAST truncates, as trunc(); round(numeric) rounds
-- halves away from zero, as SQLite's round().
CREATE FUNCTION call_capacity(c calls, sign integer)
RETURNS TABLE (queue text, start integer, arrivals integer, answered integer,
               talked integer, talk_us bigint, abandoned integer, wait_us bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT q.name,
           trunc(c.arrived_at / 1800)::integer,
           sign,
           sign * (c.outcome = 'answered')::integer,
           sign * (c.outcome = 'answered' AND c.talk_seconds IS NOT NULL)::integer,
           sign * (CASE WHEN c.outcome = 'answered'
                        THEN coalesce(round((c.talk_seconds * 1000000)::numeric)::bigint, 0)
                        ELSE 0 END),
           sign * (c.outcome = 'abandoned')::integer,
           sign * coalesce(round((c.wait_seconds * 1000000)::numeric)::bigint, 0)
    FROM (VALUES (c.queue), ('*')) AS q (name)
    WHERE q.name IS NOT NULL AND NOT c.out_of_hours
      AND c.outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                        'exit_empty', 'left_queue')
$$;

-- OLD is NULL on INSERT and NEW on DELETE: call_capacity() of a NULL call adds nothing.
-- Grouped first: one statement may change a row only once.
CREATE FUNCTION calls_capacity_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO capacity_half_hours AS h
        (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
    SELECT d.queue, d.start, sum(d.arrivals), sum(d.answered), sum(d.talked), sum(d.talk_us),
           sum(d.abandoned), sum(d.wait_us)
    FROM (SELECT * FROM call_capacity(OLD, -1) UNION ALL
          SELECT * FROM call_capacity(NEW, 1)) d
    GROUP BY d.queue, d.start
    ON CONFLICT (queue, start) DO UPDATE SET
        arrivals = h.arrivals + excluded.arrivals, answered = h.answered + excluded.answered,
        talked = h.talked + excluded.talked, talk_us = h.talk_us + excluded.talk_us,
        abandoned = h.abandoned + excluded.abandoned, wait_us = h.wait_us + excluded.wait_us;
    RETURN NULL;
END $$;

CREATE TRIGGER calls_capacity_insert AFTER INSERT ON calls
    FOR EACH ROW WHEN (NEW.outcome IS NOT NULL) EXECUTE FUNCTION calls_capacity_change();
-- only a change of what is counted: the call log's saves rewrite every column
CREATE TRIGGER calls_capacity_update AFTER UPDATE ON calls FOR EACH ROW
    WHEN ((OLD.outcome IS NOT NULL OR NEW.outcome IS NOT NULL)
          AND (OLD.arrived_at, OLD.outcome, OLD.queue, OLD.wait_seconds, OLD.talk_seconds,
               OLD.out_of_hours)
              IS DISTINCT FROM (NEW.arrived_at, NEW.outcome, NEW.queue, NEW.wait_seconds,
                                NEW.talk_seconds, NEW.out_of_hours))
    EXECUTE FUNCTION calls_capacity_change();
CREATE TRIGGER calls_capacity_delete AFTER DELETE ON calls
    FOR EACH ROW WHEN (OLD.outcome IS NOT NULL) EXECUTE FUNCTION calls_capacity_change();

INSERT INTO capacity_half_hours
    (queue, start, arrivals, answered, talked, talk_us, abandoned, wait_us)
SELECT h.queue, h.start, sum(h.arrivals), sum(h.answered), sum(h.talked), sum(h.talk_us),
       sum(h.abandoned), sum(h.wait_us)
FROM calls c CROSS JOIN LATERAL call_capacity(c, 1) h
GROUP BY h.queue, h.start;
