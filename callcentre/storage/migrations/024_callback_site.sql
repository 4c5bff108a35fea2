-- Several PBXs (#13): each callback is dialled through one site's PBX, by the instance
-- leading that site. '' is the main PBX (the first configured), as call ids of the main PBX
-- carry no site; every callback made before sites existed is the main PBX's. The dialler
-- of each site rebuilds from callbacks_due, which now holds the site too, so its read stays
-- within the index (023_callbacks_due.sql).
ALTER TABLE callbacks ADD COLUMN site TEXT NOT NULL DEFAULT '';
DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (next_attempt_at, id, due_by, status, site)
    WHERE status = 'pending';
