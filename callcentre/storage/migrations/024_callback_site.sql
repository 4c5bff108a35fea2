-- Several PBXs (#13): each callback is dialled through one site's PBX, by the instance
-- leading that site. '' is the main PBX (the first configured), as call ids of the main PBX
-- carry no site; every callback made before sites existed is the main PBX's. The indexes
-- that serve the dialler's rebuild (023_callbacks_due.sql) and the standards' callback
-- figures (014, 022) now hold the site too, so a site's reads stay within them as the
-- council's do.
ALTER TABLE callbacks ADD COLUMN site TEXT NOT NULL DEFAULT '';
DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (next_attempt_at, id, due_by, status, site)
    WHERE status = 'pending';
DROP INDEX callbacks_created;
CREATE INDEX callbacks_created ON callbacks (created_at, site);
DROP INDEX callbacks_due_results;
CREATE INDEX callbacks_due_results
    ON callbacks (due_by, result, extensions, first_attempt_in_time, site);
DROP INDEX callbacks_surveyed;
CREATE INDEX callbacks_surveyed ON callbacks (due_by, survey_resolved, survey_satisfaction,
                                              survey_offered, site)
    WHERE survey_offered = 1;
