-- OpenID Connect sign-in (#12): a person an admin added signs in through the council's
-- identity provider; callcentre makes them a token for that one browser session, marked
-- here so a list of tokens tells it from a token issued to the person.
ALTER TABLE tokens ADD COLUMN via TEXT;
