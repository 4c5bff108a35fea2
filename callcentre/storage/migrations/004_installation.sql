-- A random id per database. Callback calls are named <prefix>-<installation>-<id>-<attempt>
-- at the PBX, and their results are kept in Asterisk's AstDB under that name: without the
-- installation part, a fresh or restored database on the same Asterisk would reuse names
-- (callback 1, attempt 1 ...) and could read another database's old result as its own.
CREATE TABLE installation (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    uid TEXT NOT NULL
);
INSERT INTO installation (id, uid) VALUES (1, lower(hex(randomblob(4))));
