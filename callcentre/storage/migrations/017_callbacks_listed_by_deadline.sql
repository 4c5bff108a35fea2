-- Lists of callbacks page in constant time (#16): GET /api/callbacks is ordered by deadline
-- (due_by, then id; latest first, or soonest first with order=soonest) and pages with a
-- row-value cursor (storage/callback_repository.py list_query), so SQLite walks an index in
-- that order and stops after one page, never sorting every closed callback again.
-- Every filter the API takes has an index that ends in due_by (and the rowid after it):
-- callbacks_by_status (002) serves a status; these serve no filter and the due window, an
-- owner, a case and a number (a case's and a number's lists are steered to their own index:
-- they have a handful of callbacks each).
-- tests/adapters/test_callback_plans.py asks EXPLAIN QUERY PLAN that no filter sorts.
-- 014 dropped the deadline index as a prefix of callbacks_due_results, but the list's order is
-- (due_by, id): the rowid must come right after due_by, which only an index on due_by alone
-- gives. period() still reads callbacks_due_results alone (covering).
CREATE INDEX callbacks_by_deadline ON callbacks (due_by);
CREATE INDEX callbacks_owner_due ON callbacks (owner, due_by);
DROP INDEX callbacks_by_case;
CREATE INDEX callbacks_case_due ON callbacks (case_ref, due_by);
-- open_for_phone reads a number's few callbacks through this one too.
DROP INDEX callbacks_open_by_phone;
CREATE INDEX callbacks_phone_due ON callbacks (phone, due_by);
