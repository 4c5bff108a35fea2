-- Several PBXs (#13): each callback is dialled through one site's PBX, by the instance
-- leading that site ('' the main PBX; SQLite's 024_callback_site.sql). A site's dialler
-- reads its due callbacks through callbacks_due and checks the site on the few rows due;
-- a site's callback figures read the same indexes as the council's, with the site in them.
ALTER TABLE callbacks ADD COLUMN site TEXT NOT NULL DEFAULT '';
DROP INDEX callbacks_created;
CREATE INDEX callbacks_created ON callbacks (created_at, site);
DROP INDEX callbacks_due_results;
CREATE INDEX callbacks_due_results
    ON callbacks (due_by, result, extensions, first_attempt_in_time, site);
DROP INDEX callbacks_surveyed;
CREATE INDEX callbacks_surveyed ON callbacks (due_by, survey_resolved, survey_satisfaction,
                                              survey_offered, site)
    WHERE survey_offered;
