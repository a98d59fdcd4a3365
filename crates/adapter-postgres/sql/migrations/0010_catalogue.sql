-- The catalogue: each stream's last position and every event name in use,
-- kept in the transaction of each save, so listing categories, streams and
-- names reads these small tables (by primary key ranges) and never the
-- events.
--
-- Names sort in byte order (`COLLATE "C"`), the order every adapter lists
-- them in.
--
-- A statement-level trigger keeps them, so every insert into the events
-- maintains them, whichever save function (of whichever build) made it. It
-- touches one row per stream of the save, which the save's own stream lock
-- already serialises: saves to different streams never wait on each other
-- here.
--
-- Event names have no unique key on purpose: with one, a save using a new
-- name would wait for every transaction still open that used it first
-- (a unique check waits for an uncommitted duplicate). A name is inserted
-- when no committed row has it; two saves using it first at the same moment
-- may both insert it, and listings skip duplicates. An existing name costs
-- an index probe and writes nothing.
CREATE TABLE IF NOT EXISTS {streams} (
    category      text COLLATE "C" NOT NULL,
    stream        text COLLATE "C" NOT NULL,
    last_position bigint           NOT NULL,
    CONSTRAINT {streams_key} PRIMARY KEY (category, stream)
);

CREATE TABLE IF NOT EXISTS {event_names} (
    name text COLLATE "C" NOT NULL
);

CREATE INDEX IF NOT EXISTS {event_names_index} ON {event_names} (name);

CREATE OR REPLACE FUNCTION {catalogue_saved}()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {streams} AS s (category, stream, last_position)
    SELECT saved.category, saved.stream, max(saved.position)
      FROM saved
     GROUP BY saved.category, saved.stream
     ORDER BY saved.category, saved.stream
    ON CONFLICT (category, stream)
    DO UPDATE SET last_position = greatest(s.last_position, EXCLUDED.last_position);
    INSERT INTO {event_names} (name)
    SELECT DISTINCT saved.name
      FROM saved
     WHERE NOT EXISTS (SELECT FROM {event_names} n WHERE n.name = saved.name);
    RETURN NULL;
END
$$;

-- The trigger first: creating it waits for saves in flight and holds new
-- ones until this migration commits, so the backfill below sees every event
-- the trigger will not.
DROP TRIGGER IF EXISTS {catalogue_trigger} ON {events};
CREATE TRIGGER {catalogue_trigger}
    AFTER INSERT ON {events}
    REFERENCING NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION {catalogue_saved}();

INSERT INTO {streams} AS s (category, stream, last_position)
SELECT category, stream, max(position) FROM {events} GROUP BY category, stream
ON CONFLICT (category, stream)
DO UPDATE SET last_position = greatest(s.last_position, EXCLUDED.last_position);

INSERT INTO {event_names} (name)
SELECT DISTINCT e.name
  FROM {events} e
 WHERE NOT EXISTS (SELECT FROM {event_names} n WHERE n.name = e.name);
