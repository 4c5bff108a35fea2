-- The per-day figures of the standards report (SQLite's 013_figure_days.sql, whose comments
-- say why): one row per (queue, council-local day, outcome, wait bucket), and the same row
-- of all queues ('*'), kept by a trigger on calls in the transaction that stores the call.
-- What one call adds is said once, in call_figures(): the trigger adds the new row's and
-- takes away the old row's, and the rebuild (postgres/standards.py) sums it over every
-- call. SQLite's trigger bodies say the same in its own dialect: change them together.
CREATE TABLE local_days (
    start double precision PRIMARY KEY,   -- epoch seconds of the local midnight
    day   text NOT NULL                   -- YYYY-MM-DD
);

CREATE TABLE local_days_zone (
    id integer PRIMARY KEY CHECK (id = 1),
    tz text NOT NULL
);

CREATE TABLE figure_days (
    queue     text NOT NULL,      -- '*': every call, with or without a queue
    day       text NOT NULL,
    outcome   text NOT NULL,
    bucket    integer NOT NULL,   -- whole-second wait bucket (domain.standards.wait_bucket); -1: no wait
    n         integer NOT NULL,
    wait_us   bigint NOT NULL,    -- summed waits in microseconds: exact when added and taken away
    repeats   integer NOT NULL,
    ooh       integer NOT NULL,
    checked   integer NOT NULL,
    corrected integer NOT NULL,
    PRIMARY KEY (queue, day, outcome, bucket)
);

-- What call c adds to the figures (sign 1) or takes away (sign -1): nothing while it is in
-- progress. The bucket is the wait rounded up to a whole second (SQLite: CAST truncates,
-- plus one when there was a fraction); round(numeric) rounds halves away from zero, as
-- SQLite's round().
CREATE FUNCTION call_figures(c calls, sign integer)
RETURNS TABLE (queue text, day text, outcome text, bucket integer, n integer, wait_us bigint,
               repeats integer, ooh integer, checked integer, corrected integer)
LANGUAGE sql STABLE AS $$
    SELECT q.name,
           coalesce((SELECT l.day FROM local_days l WHERE l.start <= c.arrived_at
                     ORDER BY l.start DESC LIMIT 1), ''),
           c.outcome,
           coalesce(ceil(c.wait_seconds)::integer, -1),
           sign,
           sign * coalesce(round((c.wait_seconds * 1000000)::numeric)::bigint, 0),
           sign * (c.repeat_of IS NOT NULL)::integer,
           sign * c.out_of_hours::integer,
           sign * (c.ledger IS NOT NULL)::integer,
           sign * (c.ledger IS NOT NULL AND c.ledger != 'agrees')::integer
    FROM (VALUES (c.queue), ('*')) AS q (name)
    WHERE q.name IS NOT NULL AND c.outcome IS NOT NULL
$$;

-- OLD is NULL on INSERT and NEW on DELETE: call_figures() of a NULL call adds nothing.
-- Grouped first: one statement may change a row only once.
CREATE FUNCTION calls_figures_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO figure_days AS f
        (queue, day, outcome, bucket, n, wait_us, repeats, ooh, checked, corrected)
    SELECT d.queue, d.day, d.outcome, d.bucket, sum(d.n), sum(d.wait_us), sum(d.repeats),
           sum(d.ooh), sum(d.checked), sum(d.corrected)
    FROM (SELECT * FROM call_figures(OLD, -1) UNION ALL SELECT * FROM call_figures(NEW, 1)) d
    GROUP BY d.queue, d.day, d.outcome, d.bucket
    ON CONFLICT (queue, day, outcome, bucket) DO UPDATE SET
        n = f.n + excluded.n, wait_us = f.wait_us + excluded.wait_us,
        repeats = f.repeats + excluded.repeats, ooh = f.ooh + excluded.ooh,
        checked = f.checked + excluded.checked, corrected = f.corrected + excluded.corrected;
    RETURN NULL;
END $$;

CREATE TRIGGER calls_figures_insert AFTER INSERT ON calls
    FOR EACH ROW WHEN (NEW.outcome IS NOT NULL) EXECUTE FUNCTION calls_figures_change();
-- only a change of what is counted: the call log's saves rewrite every column
CREATE TRIGGER calls_figures_update AFTER UPDATE ON calls FOR EACH ROW
    WHEN ((OLD.outcome IS NOT NULL OR NEW.outcome IS NOT NULL)
          AND (OLD.arrived_at, OLD.outcome, OLD.queue, OLD.wait_seconds, OLD.repeat_of,
               OLD.out_of_hours, OLD.ledger)
              IS DISTINCT FROM (NEW.arrived_at, NEW.outcome, NEW.queue, NEW.wait_seconds,
                                NEW.repeat_of, NEW.out_of_hours, NEW.ledger))
    EXECUTE FUNCTION calls_figures_change();
CREATE TRIGGER calls_figures_delete AFTER DELETE ON calls
    FOR EACH ROW WHEN (OLD.outcome IS NOT NULL) EXECUTE FUNCTION calls_figures_change();
