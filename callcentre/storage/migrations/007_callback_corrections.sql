-- Corrected results (domain/callback_outcomes.py correct_result). A correction changes a
-- closed callback's result; the metric callcentre_callbacks_closed_total must still only
-- ever grow (Prometheus reads a fall as a counter reset), so it counts the result each
-- callback was first closed with (closed_result, set once), and corrections are counted
-- apart, as "old>new" pairs (corrections, a JSON array; NULL until the first one):
-- callcentre_callbacks_corrected_total. Both are derived from history, written with the row.
ALTER TABLE callbacks ADD COLUMN closed_result TEXT;
ALTER TABLE callbacks ADD COLUMN corrections TEXT;
UPDATE callbacks SET closed_result = result WHERE status = 'closed';
DROP INDEX callbacks_counts;
CREATE INDEX callbacks_counts ON callbacks (status, source, closed_result, result, extensions, due_by, attempt_count);
CREATE INDEX callbacks_corrected ON callbacks (id) WHERE corrections IS NOT NULL;
