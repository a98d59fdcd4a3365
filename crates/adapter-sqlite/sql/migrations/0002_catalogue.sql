-- The catalogue: each stream's last position and every event name in use,
-- kept by triggers in the transaction of each save, so listing categories,
-- streams and names reads these small tables instead of the events.
CREATE TABLE eventblocks_streams (
    category TEXT NOT NULL,
    stream TEXT NOT NULL,
    last_position INTEGER NOT NULL,
    PRIMARY KEY (category, stream)
) WITHOUT ROWID;

CREATE TABLE eventblocks_event_names (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;

INSERT INTO eventblocks_streams (category, stream, last_position)
SELECT category, stream, max(position) FROM eventblocks_events GROUP BY category, stream;

INSERT INTO eventblocks_event_names (name)
SELECT DISTINCT name FROM eventblocks_events;

CREATE TRIGGER eventblocks_events_catalogue AFTER INSERT ON eventblocks_events
BEGIN
    INSERT INTO eventblocks_streams (category, stream, last_position)
    VALUES (NEW.category, NEW.stream, NEW.position)
    ON CONFLICT (category, stream)
    DO UPDATE SET last_position = max(last_position, excluded.last_position);
    INSERT OR IGNORE INTO eventblocks_event_names (name) VALUES (NEW.name);
END;
