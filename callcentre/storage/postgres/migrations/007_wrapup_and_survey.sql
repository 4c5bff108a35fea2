-- The resident's voice (#15): the agent's wrap-up code and the post-call keypad survey, as
-- SQLite's 020_wrapup_and_survey.sql (whose comments say what each column holds).
ALTER TABLE calls ADD COLUMN wrapup_code text;
ALTER TABLE calls ADD COLUMN survey_offered boolean NOT NULL DEFAULT false;
ALTER TABLE calls ADD COLUMN survey_resolved boolean;
ALTER TABLE calls ADD COLUMN survey_satisfaction integer;
