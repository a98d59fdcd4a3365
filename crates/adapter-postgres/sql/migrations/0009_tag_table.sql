-- Tags indexed in a table of their own, `(tag, sequence_number)` under a
-- btree, instead of the GIN index on the events' `tags` column.
--
-- A condition check and a boundary read look for the events after a head that
-- match a query item: with the tag table that is one descent of the btree to
-- `(first tag of the item, head)`, then the item's other tags and names are
-- checked on the event (which keeps its sorted `tags` column, returned as
-- stored). A GIN index answers "which events carry this tag" but not "after
-- this sequence number": the cached (generic) plan of a check or a read could
-- not tell a rare tag from a common one, and scanned the log in
-- sequence-number order instead, touching every event after the head (see
-- BENCHMARKS.md, "Consistency boundaries", for both layouts measured).
--
-- Existing tagged events get their rows here. The save functions of earlier
-- builds are redefined below to write the rows too, so a writer of an older
-- build running beside a migrated one stores what the checks look for.

CREATE TABLE IF NOT EXISTS {tags} (
    tag             text   NOT NULL,
    sequence_number bigint NOT NULL,
    CONSTRAINT {tags_key} PRIMARY KEY (tag, sequence_number)
);

INSERT INTO {tags} (tag, sequence_number)
SELECT tag.value, e.sequence_number
  FROM {events} e CROSS JOIN LATERAL unnest(e.tags) AS tag(value)
 WHERE cardinality(e.tags) > 0
ON CONFLICT DO NOTHING;

DROP INDEX IF EXISTS {schema}.{tags_index};

-- For each query check of a save, the smallest sequence number at or above the
-- check's frontier of an event matching one of its items (NULL: none).
--
-- Checks and items come as flat arrays: `check_frontiers[c]` is check c's
-- frontier (NULL: from the start); item i belongs to check `item_checks[i]`,
-- and its tags are `item_tags[e + 1 : item_tag_ends[i]]` and its names
-- `item_names[e + 1 : item_name_ends[i]]`, `e` being the previous item's end
-- (0 for the first). A check that matches every event is given one item with
-- neither tags nor names.
--
-- Each item costs one index probe: an item with tags walks the tag table
-- from `(its first tag, frontier)` and checks its other tags and its names on
-- the event; an item with names only probes `(name, sequence_number)` once
-- per name; an item with neither reads the first event at the frontier.
CREATE OR REPLACE FUNCTION {find_probing}(
    check_frontiers bigint[], item_checks integer[], item_tag_ends integer[],
    item_name_ends integer[], item_tags text[], item_names text[])
RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found bigint[] := array_fill(NULL::bigint, ARRAY[coalesce(cardinality(check_frontiers), 0)]);
    tag_start integer := 1;
    name_start integer := 1;
    frontier bigint;
    wanted_tags text[];
    wanted_names text[];
    hit bigint;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(item_checks), 0) LOOP
        frontier := coalesce(check_frontiers[item_checks[i]], 0);
        wanted_tags := item_tags[tag_start : item_tag_ends[i]];
        wanted_names := item_names[name_start : item_name_ends[i]];
        tag_start := item_tag_ends[i] + 1;
        name_start := item_name_ends[i] + 1;
        IF cardinality(wanted_tags) > 0 THEN
            hit := (SELECT t.sequence_number
                      FROM {tags} t JOIN {events} e ON e.sequence_number = t.sequence_number
                     WHERE t.tag = wanted_tags[1] AND t.sequence_number >= frontier
                       AND e.tags @> wanted_tags
                       AND (cardinality(wanted_names) = 0 OR e.name = ANY(wanted_names))
                     ORDER BY t.sequence_number
                     LIMIT 1);
        ELSIF cardinality(wanted_names) > 0 THEN
            hit := (SELECT min(first.sequence_number)
                      FROM unnest(wanted_names) AS wanted(name),
                           LATERAL (SELECT e.sequence_number
                                      FROM {events} e
                                     WHERE e.name = wanted.name AND e.sequence_number >= frontier
                                     ORDER BY e.sequence_number
                                     LIMIT 1) first);
        ELSE
            hit := (SELECT e.sequence_number
                      FROM {events} e
                     WHERE e.sequence_number >= frontier
                     ORDER BY e.sequence_number
                     LIMIT 1);
        END IF;
        found[item_checks[i]] := least(found[item_checks[i]], hit);
    END LOOP;
    RETURN found;
END
$$;

-- A whole save in one statement, as `{save_tagged}` (see migration 7), with
-- the query checks as `{find_probing}` takes them, and a row in the tag table
-- for each tag of each event, inserted with the events.
CREATE OR REPLACE FUNCTION {save_with_tags}(
    lock_keys text[], stream_categories text[], stream_names text[],
    expected_last bigint[], any_state boolean[],
    event_streams integer[], event_offsets bigint[], event_ids uuid[], event_names text[],
    event_payloads text[], event_metadata text[],
    event_occurred_at timestamptz[], event_observed_at timestamptz[], event_tags text[],
    check_frontiers bigint[], item_checks integer[], item_tag_ends integer[],
    item_name_ends integer[], item_tags text[], item_names text[],
    expected_found boolean[], tracking_consumer text, tracking_position bigint)
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
    IF cardinality(check_frontiers) > 0 THEN
        found_matches := {find_probing}(check_frontiers, item_checks, item_tag_ends,
                                        item_name_ends, item_tags, item_names);
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
    WITH inserted AS (
        INSERT INTO {events}
            (sequence_number, id, category, stream, position, name, payload, metadata,
             occurred_at, observed_at, tags)
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
            ON s.stream_index = e.stream_index
        RETURNING sequence_number, tags
    )
    INSERT INTO {tags} (tag, sequence_number)
    SELECT tag.value, inserted.sequence_number
      FROM inserted CROSS JOIN LATERAL unnest(inserted.tags) AS tag(value);
    IF tracking_consumer IS NOT NULL THEN
        INSERT INTO {tracking} AS t (consumer, position) VALUES (tracking_consumer, tracking_position)
        ON CONFLICT (consumer) DO UPDATE SET position = EXCLUDED.position;
    END IF;
    RETURN QUERY SELECT first_number, found_last, found_matches, found_tracked;
END
$$;

-- The query checks of earlier builds (a JSON array of objects with a
-- "frontier" and "items", each item an object of "names" and "tags" arrays)
-- as `{find_probing}` takes them.
CREATE OR REPLACE FUNCTION {flat_checks}(checks jsonb,
    OUT check_frontiers bigint[], OUT item_checks integer[], OUT item_tag_ends integer[],
    OUT item_name_ends integer[], OUT item_tags text[], OUT item_names text[])
LANGUAGE sql IMMUTABLE AS $$
    WITH query_check AS (
        SELECT c.ordinal::integer AS ordinal, (c.value->>'frontier')::bigint AS frontier,
               CASE WHEN jsonb_array_length(c.value->'items') = 0
                    THEN jsonb_build_array(jsonb_build_object('names', '[]'::jsonb, 'tags', '[]'::jsonb))
                    ELSE c.value->'items' END AS items
          FROM jsonb_array_elements(checks) WITH ORDINALITY AS c(value, ordinal)
    ), item AS (
        SELECT c.ordinal AS check_ordinal, i.ordinal,
               ARRAY(SELECT jsonb_array_elements_text(i.value->'tags')) AS tags,
               ARRAY(SELECT jsonb_array_elements_text(i.value->'names')) AS names
          FROM query_check c, jsonb_array_elements(c.items) WITH ORDINALITY AS i(value, ordinal)
    ), numbered AS (
        SELECT item.*,
               sum(cardinality(tags)) OVER w AS tag_end,
               sum(cardinality(names)) OVER w AS name_end
          FROM item
        WINDOW w AS (ORDER BY check_ordinal, ordinal)
    )
    SELECT coalesce((SELECT array_agg(frontier ORDER BY ordinal) FROM query_check), ARRAY[]::bigint[]),
           coalesce(array_agg(check_ordinal ORDER BY check_ordinal, ordinal), ARRAY[]::integer[]),
           coalesce(array_agg(tag_end::integer ORDER BY check_ordinal, ordinal), ARRAY[]::integer[]),
           coalesce(array_agg(name_end::integer ORDER BY check_ordinal, ordinal), ARRAY[]::integer[]),
           coalesce((SELECT array_agg(tag ORDER BY n.check_ordinal, n.ordinal, tag.ordinal)
                       FROM numbered n, unnest(n.tags) WITH ORDINALITY AS tag(tag, ordinal)), ARRAY[]::text[]),
           coalesce((SELECT array_agg(name ORDER BY n.check_ordinal, n.ordinal, name.ordinal)
                       FROM numbered n, unnest(n.names) WITH ORDINALITY AS name(name, ordinal)), ARRAY[]::text[])
      FROM numbered
$$;

-- Earlier builds' check, through the tag table.
CREATE OR REPLACE FUNCTION {find_matches}(checks jsonb)
RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT {find_probing}(f.check_frontiers, f.item_checks, f.item_tag_ends,
                          f.item_name_ends, f.item_tags, f.item_names)
      FROM {flat_checks}(checks) f
$$;

-- Earlier builds' save, writing tag rows too.
CREATE OR REPLACE FUNCTION {save_tagged}(
    lock_keys text[], stream_categories text[], stream_names text[],
    expected_last bigint[], any_state boolean[],
    event_streams integer[], event_offsets bigint[], event_ids uuid[], event_names text[],
    event_payloads text[], event_metadata text[],
    event_occurred_at timestamptz[], event_observed_at timestamptz[], event_tags text[],
    checks jsonb, expected_found boolean[], tracking_consumer text, tracking_position bigint)
RETURNS TABLE (first_sequence_number bigint, last_positions bigint[], found bigint[],
               tracked bigint)
LANGUAGE sql AS $$
    SELECT saved.*
      FROM {flat_checks}(checks) f,
           {save_with_tags}(lock_keys, stream_categories, stream_names, expected_last, any_state,
                     event_streams, event_offsets, event_ids, event_names, event_payloads,
                     event_metadata, event_occurred_at, event_observed_at, event_tags,
                     f.check_frontiers, f.item_checks, f.item_tag_ends, f.item_name_ends,
                     f.item_tags, f.item_names, expected_found, tracking_consumer,
                     tracking_position) saved
$$;
