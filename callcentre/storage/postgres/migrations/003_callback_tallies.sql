-- The history-wide callback figures as counters (SQLite's 014_callback_tallies.sql, whose
-- comments say which metric each figure feeds): one row per figure and label, kept by a
-- trigger on callbacks in the transaction that changes the callback.
--   promised   by source
--   closed     by closed_result, for closed callbacks
--   corrected  by 'old>new', each entry of corrections
--   extended   '', callbacks with extensions > 0
-- What one callback counts for is said once, in callback_tally_rows(); the trigger adds the
-- new row's and takes away the old row's. The conditions are the reference recount's in
-- tests/contract/test_callback_figures.py: change them together (and SQLite's triggers).
CREATE TABLE callback_tallies (
    figure text NOT NULL,
    label  text NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (figure, label)
);

-- A NULL callback (OLD on INSERT, NEW on DELETE) counts for nothing.
CREATE FUNCTION callback_tally_rows(c callbacks, sign integer)
RETURNS TABLE (figure text, label text, n integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'promised', c.source, sign WHERE c.id IS NOT NULL
    UNION ALL
    SELECT 'closed', c.closed_result, sign
    WHERE c.status = 'closed' AND c.closed_result IS NOT NULL
    UNION ALL
    SELECT 'corrected', e.value, sign * count(*)::integer
    FROM jsonb_array_elements_text(coalesce(c.corrections, '[]'::jsonb)) AS e (value)
    GROUP BY e.value
    UNION ALL
    SELECT 'extended', '', sign WHERE c.extensions > 0
$$;

-- Only the differences are written: a change of status alone between pending and
-- dialling, say, nets to nothing and touches no counter.
CREATE FUNCTION callbacks_tally_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_tallies AS t (figure, label, n)
    SELECT d.figure, d.label, sum(d.n)
    FROM (SELECT * FROM callback_tally_rows(OLD, -1)
          UNION ALL SELECT * FROM callback_tally_rows(NEW, 1)) d
    GROUP BY d.figure, d.label HAVING sum(d.n) != 0
    ON CONFLICT (figure, label) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END $$;

-- Filled from the callbacks already stored, before the triggers exist.
INSERT INTO callback_tallies (figure, label, n)
SELECT d.figure, d.label, sum(d.n)
FROM callbacks c CROSS JOIN LATERAL callback_tally_rows(c, 1) d
GROUP BY d.figure, d.label;

CREATE TRIGGER callbacks_tally_insert_delete AFTER INSERT OR DELETE ON callbacks
    FOR EACH ROW EXECUTE FUNCTION callbacks_tally_change();
-- the repository's UPDATE sets every column: only a change of what is counted goes on
CREATE TRIGGER callbacks_tally_update AFTER UPDATE ON callbacks FOR EACH ROW
    WHEN ((OLD.source, OLD.status, OLD.closed_result, OLD.corrections, OLD.extensions > 0)
          IS DISTINCT FROM
          (NEW.source, NEW.status, NEW.closed_result, NEW.corrections, NEW.extensions > 0))
    EXECUTE FUNCTION callbacks_tally_change();
