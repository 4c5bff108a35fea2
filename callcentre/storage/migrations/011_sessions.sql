-- Browser sessions (#12): a person signs in with their token once; the browser then holds
-- only an HttpOnly cookie naming a session (stored hashed, like tokens). A session ends at
-- sign-out, at its own expiry, or when its token is revoked or expires.
CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,       -- sha256 of the cookie's value
    token_id   INTEGER NOT NULL,       -- tokens.rowid
    csrf       TEXT NOT NULL,          -- sent back by the page with every change it asks for
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at   REAL
);
CREATE INDEX sessions_token ON sessions (token_id);
