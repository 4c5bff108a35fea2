-- The covering index that let a day's figures be aggregated from calls (003) has no reader
-- since the figures are kept per day (013): every call stored no longer pays for it.
DROP INDEX IF EXISTS calls_reporting;
