-- Lists of calls page in constant time (#16): GET /api/calls is ordered newest first by
-- (arrived_at, id) and pages with a row-value cursor (storage/call_repository.py find), so
-- SQLite walks an index in that order and stops after one page, never sorting a window.
-- Every filter the API takes has an index that ends in arrived_at (and, like every index,
-- the rowid after it): calls_arrived (001) serves no filter and the since/until window;
-- these serve queue, queue and outcome together, outcome, and case, each with or without
-- a window (find steers a case's list to its own index: a case has a handful of calls).
-- Two replace an index they start with (the loose scan of queue names in
-- standards_repository.queues() walks calls_queue_arrived as it walked calls_queue).
-- tests/adapters/test_call_plans.py asks EXPLAIN QUERY PLAN that no filter sorts.
DROP INDEX calls_queue;
CREATE INDEX calls_queue_arrived ON calls (queue, arrived_at);
CREATE INDEX calls_queue_outcome_arrived ON calls (queue, outcome, arrived_at);
CREATE INDEX calls_outcome_arrived ON calls (outcome, arrived_at);
DROP INDEX calls_case;
CREATE INDEX calls_case_arrived ON calls (case_ref, arrived_at);
