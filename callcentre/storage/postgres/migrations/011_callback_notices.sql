-- Several instances on one database (#13): every change of a callback, whichever instance
-- made it (an agent's API call on a standby, the leader's dialler), is told to the others
-- on commit by NOTIFY (storage/postgres/notices.py listens): the leader's dialler tracks a
-- callback promised on a standby at once, and every agent's page refreshes. The payload
-- is the writer's application_name (its instance name) and the callback's id; a listener
-- skips its own. Numbered 011: 009 and 010 are other branches' of the same day.
CREATE FUNCTION notify_callback_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('callcentre_callbacks',
                      current_setting('application_name') || ' ' || NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER callbacks_notice AFTER INSERT OR UPDATE ON callbacks
    FOR EACH ROW EXECUTE FUNCTION notify_callback_changed();
