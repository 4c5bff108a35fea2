-- Language end to end (#15): the resident's language on the call, CHANNEL(language) of
-- their channel as it joined the queue (after the dialplan's language menu, dialplans/
-- callcentre-language; AMI's channel snapshot header Language). NULL: not known (calls
-- stored before this migration, or a channel whose events carried no language).
-- PostgreSQL's 009_call_language.sql is the same.
ALTER TABLE calls ADD COLUMN language TEXT;
