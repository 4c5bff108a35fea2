-- The resident's voice after a callback (#15), as SQLite's 022_callback_survey.sql (whose
-- comments say what each column holds): the survey of the callback's latest attempt that
-- reached it, for the published figures.
ALTER TABLE callbacks ADD COLUMN survey_offered boolean NOT NULL DEFAULT false;
ALTER TABLE callbacks ADD COLUMN survey_resolved boolean;
ALTER TABLE callbacks ADD COLUMN survey_satisfaction integer;

-- Filled from the callbacks already stored, from the latest attempt whose survey was offered
-- (the migration writes these rows last, so their term becomes NULL: 008_pbx_leaders.sql).
UPDATE callbacks c SET survey_offered = true,
    survey_resolved = (SELECT (a.value -> 'survey' ->> 1)::boolean
                       FROM jsonb_array_elements(c.attempts) WITH ORDINALITY a(value, i)
                       WHERE (a.value -> 'survey' ->> 0)::boolean ORDER BY a.i DESC LIMIT 1),
    survey_satisfaction = (SELECT (a.value -> 'survey' ->> 2)::integer
                           FROM jsonb_array_elements(c.attempts) WITH ORDINALITY a(value, i)
                           WHERE (a.value -> 'survey' ->> 0)::boolean ORDER BY a.i DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(c.attempts) a(value)
              WHERE (a.value -> 'survey' ->> 0)::boolean);

CREATE INDEX callbacks_surveyed ON callbacks (due_by, survey_resolved, survey_satisfaction,
                                              survey_offered)
    WHERE survey_offered;
