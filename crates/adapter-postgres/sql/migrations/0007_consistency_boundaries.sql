-- Consistency boundaries: tags on events, query conditions checked under
-- locks, saves spanning categories, and tracked saves.
--
-- Tags are a sorted `text[]` per event with a GIN index, so a boundary read or
-- check among millions of events touches only the rows carrying a tag it
-- names; query items without tags use the `(name, sequence_number)` index.

ALTER TABLE {events} ADD COLUMN IF NOT EXISTS tags text[] NOT NULL DEFAULT ARRAY[]::text[];

CREATE INDEX IF NOT EXISTS {tags_index} ON {events} USING gin (tags) WITH (fastupdate = off);

-- The upstream position each consumer of a tracked save last recorded.
CREATE TABLE IF NOT EXISTS {tracking} (
    consumer text   NOT NULL,
    position bigint NOT NULL,
    CONSTRAINT {tracking_key} PRIMARY KEY (consumer)
);

-- For each query check of a save, the sequence number of an event matching it
-- at or above its frontier (NULL: none). `checks` is a JSON array of objects
-- with a "frontier" (a sequence number, or null) and "items", each an object
-- of "names" and "tags" arrays: an empty item list matches every event, an
-- empty name list any name.
CREATE OR REPLACE FUNCTION {find_matches}(checks jsonb)
RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found bigint[] := ARRAY[]::bigint[];
    query_check jsonb;
    frontier bigint;
BEGIN
    FOR query_check IN SELECT value FROM jsonb_array_elements(checks) LOOP
        frontier := coalesce((query_check->>'frontier')::bigint, 0);
        IF jsonb_array_length(query_check->'items') = 0 THEN
            found := found || (SELECT e.sequence_number FROM {events} e
                                WHERE e.sequence_number >= frontier LIMIT 1);
        ELSE
            found := found || (
                SELECT min(hit.sequence_number)
                  FROM jsonb_array_elements(query_check->'items') AS item(value),
                       LATERAL (SELECT e.sequence_number
                                  FROM {events} e
                                 WHERE e.sequence_number >= frontier
                                   AND e.tags @> ARRAY(SELECT jsonb_array_elements_text(item.value->'tags'))
                                   AND (jsonb_array_length(item.value->'names') = 0
                                        OR e.name = ANY(ARRAY(SELECT jsonb_array_elements_text(item.value->'names'))))
                                 LIMIT 1) hit);
        END IF;
    END LOOP;
    RETURN found;
END
$$;

-- Takes the locks `lock_keys` (see `{take_locks}`), then reads each stream's
-- last position and last event id under them.
CREATE OR REPLACE FUNCTION {lock_states}(lock_keys text[], stream_categories text[], stream_names text[])
RETURNS TABLE (last_positions bigint[], last_ids uuid[])
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM {take_locks}(lock_keys);
    RETURN QUERY
        SELECT array_agg(last.position ORDER BY requested.ordinal),
               array_agg(last.id ORDER BY requested.ordinal)
          FROM unnest(stream_categories, stream_names) WITH ORDINALITY
                   AS requested(category, name, ordinal)
          LEFT JOIN LATERAL (SELECT e.position, e.id
                               FROM {events} e
                              WHERE e.category = requested.category AND e.stream = requested.name
                              ORDER BY e.position DESC
                              LIMIT 1) last ON true;
END
$$;

-- A whole save in one statement: takes the locks, reads each stream's last
-- position, answers the query checks and reads the consumer's tracked
-- position, and inserts only if all of them are what the caller decided on
-- with eventblocks' shared rules (`expected_last` unless `any_state`; a match
-- for a check exactly where `expected_found`; the tracking not replayed).
-- Returns the first sequence number (NULL when nothing was inserted) and what
-- it found.
CREATE OR REPLACE FUNCTION {save_tagged}(
    lock_keys text[], stream_categories text[], stream_names text[],
    expected_last bigint[], any_state boolean[],
    event_streams integer[], event_offsets bigint[], event_ids uuid[], event_names text[],
    event_payloads text[], event_metadata text[],
    event_occurred_at timestamptz[], event_observed_at timestamptz[], event_tags text[],
    checks jsonb, expected_found boolean[], tracking_consumer text, tracking_position bigint)
RETURNS TABLE (first_sequence_number bigint, last_positions bigint[], found bigint[],
               tracked bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    found_last bigint[];
    found_matches bigint[];
    found_tracked bigint;
    first_number bigint;
BEGIN
    PERFORM {take_locks}(lock_keys);
    IF cardinality(stream_names) = 1 THEN
        found_last := ARRAY[(SELECT e.position
                               FROM {events} e
                              WHERE e.category = stream_categories[1] AND e.stream = stream_names[1]
                              ORDER BY e.position DESC
                              LIMIT 1)];
    ELSE
        SELECT array_agg(last.position ORDER BY requested.ordinal)
          INTO found_last
          FROM unnest(stream_categories, stream_names) WITH ORDINALITY
                   AS requested(category, name, ordinal)
          LEFT JOIN LATERAL (SELECT e.position
                               FROM {events} e
                              WHERE e.category = requested.category AND e.stream = requested.name
                              ORDER BY e.position DESC
                              LIMIT 1) last ON true;
    END IF;
    IF jsonb_array_length(checks) > 0 THEN
        found_matches := {find_matches}(checks);
    ELSE
        found_matches := ARRAY[]::bigint[];
    END IF;
    IF tracking_consumer IS NOT NULL THEN
        SELECT t.position INTO found_tracked
          FROM {tracking} t WHERE t.consumer = tracking_consumer FOR UPDATE;
    END IF;
    IF EXISTS (SELECT 1
                 FROM unnest(found_last, expected_last, any_state) AS state(found, expected, any_state)
                WHERE NOT state.any_state AND state.found IS DISTINCT FROM state.expected)
       OR EXISTS (SELECT 1
                    FROM unnest(found_matches, expected_found) AS match(found, expected)
                   WHERE (match.found IS NOT NULL) IS DISTINCT FROM match.expected)
       OR found_tracked >= tracking_position THEN
        RETURN QUERY SELECT NULL::bigint, found_last, found_matches, found_tracked;
        RETURN;
    END IF;
    first_number := {allocate}(cardinality(event_ids));
    INSERT INTO {events}
        (sequence_number, id, category, stream, position, name, payload, metadata, occurred_at,
         observed_at, tags)
    SELECT first_number + e.ordinal - 1, e.id, s.category, s.name,
           coalesce(s.last, -1) + 1 + e.stream_offset, e.name,
           e.payload::json, e.metadata::json, e.occurred_at, e.observed_at,
           ARRAY(SELECT json_array_elements_text(e.tags::json))
      FROM unnest(event_streams, event_offsets, event_ids, event_names, event_payloads,
                  event_metadata, event_occurred_at, event_observed_at, event_tags)
               WITH ORDINALITY AS e(stream_index, stream_offset, id, name, payload, metadata,
                                    occurred_at, observed_at, tags, ordinal)
      JOIN unnest(stream_categories, stream_names, found_last) WITH ORDINALITY
               AS s(category, name, last, stream_index)
        ON s.stream_index = e.stream_index;
    IF tracking_consumer IS NOT NULL THEN
        INSERT INTO {tracking} AS t (consumer, position) VALUES (tracking_consumer, tracking_position)
        ON CONFLICT (consumer) DO UPDATE SET position = EXCLUDED.position;
    END IF;
    RETURN QUERY SELECT first_number, found_last, found_matches, found_tracked;
END
$$;
