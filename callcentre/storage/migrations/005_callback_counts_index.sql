-- The scrape-time callback counts (storage/callback_figures_repository.py) read only these
-- columns: a covering index keeps them off the wide rows (attempts and history are JSON).
CREATE INDEX callbacks_counts ON callbacks (status, source, result, extensions, due_by, attempt_count);
