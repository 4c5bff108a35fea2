-- The resident's voice (#15): what the agent recorded about the call (its wrap-up code, one
-- of the wrapup_codes setting, PUT /api/calls/{id}/wrapup) and the resident's post-call
-- keypad survey (dialplans/: UserEvents CallcentreSurveyOffered and CallcentreSurveyAnswer).
-- survey_offered: the resident reached the survey (the agent hung up first, the survey is on);
-- survey_resolved: 1 "yes, resolved", 0 "no", NULL not answered (skipped, timed out, hung up);
-- survey_satisfaction: 1-5, NULL not answered. The call log saves the survey with the call;
-- the wrap-up code is the agent's alone, so the call log's upsert never writes it
-- (storage/call_repository.py). PostgreSQL's 007_wrapup_and_survey.sql is the same.
ALTER TABLE calls ADD COLUMN wrapup_code TEXT;
ALTER TABLE calls ADD COLUMN survey_offered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN survey_resolved INTEGER;
ALTER TABLE calls ADD COLUMN survey_satisfaction INTEGER;
