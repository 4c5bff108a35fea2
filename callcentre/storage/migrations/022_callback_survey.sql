-- The resident's voice after a callback (#15): the post-call survey is kept on the attempt
-- (in attempts' JSON, "survey": [offered, resolved, satisfaction]); these columns repeat the
-- callback's survey, that of its latest attempt that reached it (domain/survey.py
-- callback_survey), so the published figures can count it. Written with every save of the
-- callback (storage/callback_repository.py, derived like attempt_count). A callback is
-- judged by its deadline, so its survey is counted in the period its deadline falls in.
-- PostgreSQL's 013_callback_survey.sql is the same.
ALTER TABLE callbacks ADD COLUMN survey_offered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callbacks ADD COLUMN survey_resolved INTEGER;
ALTER TABLE callbacks ADD COLUMN survey_satisfaction INTEGER;

-- Filled from the callbacks already stored (an upgraded database): the latest attempt whose
-- survey was offered (json_each's key is the attempt's index).
UPDATE callbacks SET
    survey_offered = 1,
    survey_resolved = (SELECT json_extract(a.value, '$.survey[1]') FROM json_each(callbacks.attempts) a
                       WHERE json_extract(a.value, '$.survey[0]') ORDER BY a.key DESC LIMIT 1),
    survey_satisfaction = (SELECT json_extract(a.value, '$.survey[2]') FROM json_each(callbacks.attempts) a
                           WHERE json_extract(a.value, '$.survey[0]') ORDER BY a.key DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM json_each(callbacks.attempts) a
              WHERE json_extract(a.value, '$.survey[0]'));

-- The period's survey figures read this index alone (a range of deadlines of the few
-- callbacks that reached the survey), never the callbacks' wide rows. survey_offered is in it
-- too: SQLite reads the condition's column from the index only if the index has it.
CREATE INDEX callbacks_surveyed ON callbacks (due_by, survey_resolved, survey_satisfaction,
                                              survey_offered)
    WHERE survey_offered = 1;
