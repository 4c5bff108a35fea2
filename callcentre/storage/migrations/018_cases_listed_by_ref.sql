-- Lists of cases page in constant time (#16): GET /api/cases is ordered by ref and pages from
-- the last ref shown. With a status or a number asked for, SQLite walked the primary key in
-- ref order and skipped every case of the other status (ten years hold 470,000 closed
-- cases and 5,000 open ones, and the open ones sort late). Each filter now has an index in
-- ref order; tests/adapters/test_case_plans.py asks EXPLAIN QUERY PLAN that none sorts.
CREATE INDEX cases_status_ref ON cases (status, ref);
CREATE INDEX cases_phone_ref ON cases (phone, ref);
