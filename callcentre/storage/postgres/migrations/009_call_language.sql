-- Language end to end (#15): the resident's language on the call, as SQLite's
-- 021_call_language.sql (whose comment says what it holds).
ALTER TABLE calls ADD COLUMN language text;
