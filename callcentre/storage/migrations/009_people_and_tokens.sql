-- Tokens belong to a named person (#12): the person's role decides what a token may do,
-- and an agent's AMI member interface is where they take calls (their callbacks, their
-- live page). Tokens expire and can be revoked; none is ever deleted (the record of who
-- did what names its person).
CREATE TABLE people (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('agent', 'manager', 'admin')),
    interface  TEXT UNIQUE,            -- e.g. PJSIP/agent1; NULL for who takes no calls
    created_at REAL NOT NULL
);

-- one person per name already on a token, with the highest role any of its tokens had
INSERT INTO people (name, role, created_at)
SELECT name,
       CASE max(CASE role WHEN 'admin' THEN 3 WHEN 'manager' THEN 2 ELSE 1 END)
            WHEN 3 THEN 'admin' WHEN 2 THEN 'manager' ELSE 'agent' END,
       min(created_at)
FROM tokens GROUP BY name;

ALTER TABLE tokens ADD COLUMN person_id INTEGER REFERENCES people (id);
ALTER TABLE tokens ADD COLUMN expires_at REAL;
ALTER TABLE tokens ADD COLUMN revoked_at REAL;
UPDATE tokens SET person_id = (SELECT id FROM people WHERE people.name = tokens.name);
-- tokens made before expiry existed get one when the service next starts (it has the
-- clock; a migration never reads it): TokenRepository.bound_expiry
CREATE INDEX tokens_person ON tokens (person_id);
