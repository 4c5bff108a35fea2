-- Several PBXs (#13): each callback is dialled through one site's PBX, by the instance
-- leading that site ('' the main PBX; SQLite's 024_callback_site.sql). A site's dialler
-- reads its due callbacks through callbacks_due and checks the site on the few rows due.
ALTER TABLE callbacks ADD COLUMN site TEXT NOT NULL DEFAULT '';
