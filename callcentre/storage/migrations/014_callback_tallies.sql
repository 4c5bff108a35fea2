-- Callback figures at ten years of history (#16): every /metrics scrape and wallboard
-- refresh asks for counts() (storage/callback_figures_repository.py), and re-grouping every
-- callback ever made for each one costs the whole history. The history-wide figures are
-- now counters kept by triggers, in the same transaction as the change to the callback;
-- the time-dependent ones read an index of the open callbacks only.
--
-- One row per figure and label (the metric's label; '' when it has none):
--   promised   by source                                  callcentre_callbacks_promised_total
--   closed     by closed_result, for closed callbacks     callcentre_callbacks_closed_total
--   corrected  by 'old>new', each entry of corrections    callcentre_callbacks_corrected_total
--   extended   '', callbacks with extensions > 0 (open or closed)
-- The conditions are counts()'s old recount queries (kept as the reference in
-- tests/contract/test_callback_figures.py and bench/callback_figures.py): change them
-- together. A label whose callbacks have all gone keeps a row with n = 0 (counts() skips it).
CREATE TABLE callback_tallies (
    figure TEXT NOT NULL,
    label  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (figure, label)
) WITHOUT ROWID;

-- Filled from the callbacks already stored (an upgraded database), before the triggers exist.
INSERT INTO callback_tallies (figure, label, n)
SELECT 'promised', source, COUNT(*) FROM callbacks GROUP BY source;
INSERT INTO callback_tallies (figure, label, n)
SELECT 'closed', closed_result, COUNT(*) FROM callbacks
WHERE status = 'closed' AND closed_result IS NOT NULL GROUP BY closed_result;
INSERT INTO callback_tallies (figure, label, n)
SELECT 'corrected', j.value, COUNT(*) FROM callbacks, json_each(callbacks.corrections) j
WHERE callbacks.corrections IS NOT NULL GROUP BY j.value;
INSERT INTO callback_tallies (figure, label, n)
SELECT 'extended', '', COUNT(*) FROM callbacks WHERE extensions > 0;

-- Each statement adds a delta (+1 for the new row's values, -1 for the old row's). An
-- UPSERT's SELECT needs a WHERE clause (SQLite's parsing rule), hence the WHERE true.
-- The repository's UPDATE sets every column, so UPDATE OF fires on every write: each
-- trigger's WHEN lets only a change of what it counts through.
CREATE TRIGGER callbacks_tally_insert AFTER INSERT ON callbacks
BEGIN
    INSERT INTO callback_tallies (figure, label, n) SELECT 'promised', new.source, 1 WHERE true
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'closed', new.closed_result, 1
    WHERE new.status = 'closed' AND new.closed_result IS NOT NULL
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n)
    SELECT 'corrected', value, COUNT(*) FROM json_each(new.corrections) WHERE true GROUP BY value
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'extended', '', 1
    WHERE new.extensions > 0
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER callbacks_tally_delete AFTER DELETE ON callbacks
BEGIN
    INSERT INTO callback_tallies (figure, label, n) SELECT 'promised', old.source, -1 WHERE true
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'closed', old.closed_result, -1
    WHERE old.status = 'closed' AND old.closed_result IS NOT NULL
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n)
    SELECT 'corrected', value, -COUNT(*) FROM json_each(old.corrections) WHERE true GROUP BY value
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'extended', '', -1
    WHERE old.extensions > 0
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
END;

-- The source never changes in the domain; a hand edit still must not skew the figure.
CREATE TRIGGER callbacks_tally_source AFTER UPDATE OF source ON callbacks
WHEN old.source IS NOT new.source
BEGIN
    INSERT INTO callback_tallies (figure, label, n) SELECT 'promised', old.source, -1 WHERE true
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'promised', new.source, 1 WHERE true
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER callbacks_tally_closed AFTER UPDATE OF status, closed_result ON callbacks
WHEN old.status IS NOT new.status OR old.closed_result IS NOT new.closed_result
BEGIN
    INSERT INTO callback_tallies (figure, label, n) SELECT 'closed', old.closed_result, -1
    WHERE old.status = 'closed' AND old.closed_result IS NOT NULL
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'closed', new.closed_result, 1
    WHERE new.status = 'closed' AND new.closed_result IS NOT NULL
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
END;

-- corrections only grow (one entry per correction): the difference is the entries added.
CREATE TRIGGER callbacks_tally_corrected AFTER UPDATE OF corrections ON callbacks
WHEN old.corrections IS NOT new.corrections
BEGIN
    INSERT INTO callback_tallies (figure, label, n)
    SELECT 'corrected', value, SUM(d) FROM (
        SELECT value, -1 AS d FROM json_each(old.corrections)
        UNION ALL
        SELECT value, 1 AS d FROM json_each(new.corrections))
    WHERE true GROUP BY value HAVING SUM(d) != 0
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER callbacks_tally_extended AFTER UPDATE OF extensions ON callbacks
WHEN (old.extensions > 0) IS NOT (new.extensions > 0)
BEGIN
    INSERT INTO callback_tallies (figure, label, n) SELECT 'extended', '', -1
    WHERE old.extensions > 0
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
    INSERT INTO callback_tallies (figure, label, n) SELECT 'extended', '', 1
    WHERE new.extensions > 0
    ON CONFLICT (figure, label) DO UPDATE SET n = n + excluded.n;
END;

-- The time-dependent counts (overdue, at risk, due within the hour, open by state) read the
-- open callbacks alone: a few hundred, however long the history. counts() says
-- status != 'closed' in these words, so the planner can use this partial index.
CREATE INDEX callbacks_open ON callbacks (status, due_by, attempt_count) WHERE status != 'closed';
-- period(): callbacks made in the period, and results by deadline, each read from an index
-- alone (covering: the columns period() reads).
CREATE INDEX callbacks_created ON callbacks (created_at);
CREATE INDEX callbacks_due_results
    ON callbacks (due_by, result, extensions, first_attempt_in_time);
-- Read by nothing now: the covering index of the old recount (005, 007), the index of the
-- corrected callbacks the recount of corrections went through (007), and the deadline index
-- (002), a prefix of callbacks_due_results (list filters due_from/due_until use that).
-- IF EXISTS: 013 was written beside this one, on another branch, and may drop one too.
DROP INDEX IF EXISTS callbacks_counts;
DROP INDEX IF EXISTS callbacks_corrected;
DROP INDEX IF EXISTS callbacks_by_deadline;
