-- Lists page in constant time (#16; SQLite's 017_callbacks_listed_by_deadline.sql and
-- 018_cases_listed_by_ref.sql say why): GET /api/callbacks is ordered by (due_by, id) and
-- GET /api/cases by ref, so each filter has an index in that order, the id written out
-- (SQLite's indexes end in the rowid by themselves). A case's and a number's callbacks are
-- read through their own indexes, which replace the ones 001 had for them.
CREATE INDEX callbacks_by_deadline ON callbacks (due_by, id);
CREATE INDEX callbacks_owner_due ON callbacks (owner, due_by, id);
DROP INDEX callbacks_by_case;
CREATE INDEX callbacks_case_due ON callbacks (case_ref, due_by, id);
DROP INDEX callbacks_open_by_phone;
CREATE INDEX callbacks_phone_due ON callbacks (phone, due_by, id);
DROP INDEX callbacks_by_status;
CREATE INDEX callbacks_by_status ON callbacks (status, due_by, id);
CREATE INDEX cases_status_ref ON cases (status, ref);
CREATE INDEX cases_phone_ref ON cases (phone, ref);
