-- Microseconds rounded as SQLite rounds them (found copying a year of SQLite history with
-- migrate-data: 4 of 177,651 capacity half-hours differed from PostgreSQL's recount).
-- 002 and 006 rounded ``(x * 1000000)::numeric``, and a double becomes numeric through
-- its 15 significant digits: 1440680919.4999998 became 1440680919.50000 and rounded up,
-- where SQLite's round() adds a half and truncates the double itself (1440680919). Both
-- engines now keep the same microseconds for the same call. Figures kept before this
-- may be off by a microsecond in a sum: `callcentre rebuild-figures` recounts them.
-- Numbered 012: 009 and 010 are other branches' of the same day.
CREATE FUNCTION sqlite_round(x double precision) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT trunc(x + CASE WHEN x < 0 THEN -0.5 ELSE 0.5 END)::bigint
$$;

CREATE OR REPLACE FUNCTION call_figures(c calls, sign integer)
RETURNS TABLE (queue text, day text, outcome text, bucket integer, n integer, wait_us bigint,
               repeats integer, ooh integer, checked integer, corrected integer)
LANGUAGE sql STABLE AS $$
    SELECT q.name,
           coalesce((SELECT l.day FROM local_days l WHERE l.start <= c.arrived_at
                     ORDER BY l.start DESC LIMIT 1), ''),
           c.outcome,
           coalesce(ceil(c.wait_seconds)::integer, -1),
           sign,
           sign * coalesce(sqlite_round(c.wait_seconds * 1000000), 0),
           sign * (c.repeat_of IS NOT NULL)::integer,
           sign * c.out_of_hours::integer,
           sign * (c.ledger IS NOT NULL)::integer,
           sign * (c.ledger IS NOT NULL AND c.ledger != 'agrees')::integer
    FROM (VALUES (c.queue), ('*')) AS q (name)
    WHERE q.name IS NOT NULL AND c.outcome IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION call_capacity(c calls, sign integer)
RETURNS TABLE (queue text, start integer, arrivals integer, answered integer,
               talked integer, talk_us bigint, abandoned integer, wait_us bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT q.name,
           trunc(c.arrived_at / 1800)::integer,
           sign,
           sign * (c.outcome = 'answered')::integer,
           sign * (c.outcome = 'answered' AND c.talk_seconds IS NOT NULL)::integer,
           sign * (CASE WHEN c.outcome = 'answered'
                        THEN coalesce(sqlite_round(c.talk_seconds * 1000000), 0)
                        ELSE 0 END),
           sign * (c.outcome = 'abandoned')::integer,
           sign * coalesce(sqlite_round(c.wait_seconds * 1000000), 0)
    FROM (VALUES (c.queue), ('*')) AS q (name)
    WHERE q.name IS NOT NULL AND NOT c.out_of_hours
      AND c.outcome IN ('answered', 'abandoned', 'timeout', 'exit_with_key',
                        'exit_empty', 'left_queue')
$$;
