-- The write path without session-level locks, for saves of any width.
--
-- 1. Sequence numbers without a lock. Until now the allocation function
--    handed out numbers from a sequence inside a critical section under a
--    session-level advisory lock, to keep them in transaction-id order; a
--    cancel arriving just after the lock was granted could leave it held by a
--    pooled session, stalling every later save. Now a transaction's events are
--    numbered from its own transaction id,
--
--        sequence_number = base + transaction_id * 65536 + ordinal,
--
--    so they are in transaction-id order by construction, with no lock at all
--    (see `sql/schema/anchor.sql`, which `migrate()` runs after the
--    migrations: it writes the allocation function and keeps `base` above
--    every number already handed out, also after a move to another cluster).
--    `{allocation}` remembers the base.
--
-- 2. Payload and metadata as `json`, kept as the text given: `jsonb` wrote
--    numbers back in full (`1e-16383` as 16,385 characters), so an accepted
--    event could become too large to read.
--
-- 3. Locks a save may take in shared mode: keys passed as `shared <key>`. A
--    save of a few streams holds its category's lock shared and its streams'
--    exclusively; a save of many streams holds the category's exclusively
--    instead of one lock per stream (see the adapter's `lock_keys`).
--
-- 4. Saves of any width in linear time (below).
--
-- Savers of an older build call the same functions, so they number, store and
-- lock alike.
CREATE TABLE IF NOT EXISTS {allocation} (
    base bigint NOT NULL
);

ALTER TABLE {events}
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN metadata TYPE json USING metadata::json;

-- Takes the transaction-level advisory locks `lock_keys` in the order given,
-- in shared mode those written `shared <key>`.
CREATE OR REPLACE FUNCTION {take_locks}(lock_keys text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lock_key text;
BEGIN
    FOREACH lock_key IN ARRAY lock_keys LOOP
        IF left(lock_key, 7) = 'shared ' THEN
            PERFORM pg_advisory_xact_lock_shared(hashtextextended(substr(lock_key, 8), 0));
        ELSE
            PERFORM pg_advisory_xact_lock(hashtextextended(lock_key, 0));
        END IF;
    END LOOP;
END
$$;

-- As before, with the locks of `{take_locks}`.
CREATE OR REPLACE FUNCTION {lock_streams}(lock_keys text[], stream_category text, stream_names text[])
RETURNS TABLE (stream text, last_position bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM {take_locks}(lock_keys);
    RETURN QUERY
        SELECT requested.name,
               (SELECT e.position
                  FROM {events} e
                 WHERE e.category = stream_category AND e.stream = requested.name
                 ORDER BY e.position DESC
                 LIMIT 1)
          FROM unnest(stream_names) AS requested(name);
END
$$;

-- The save function again, now for saves of any width: the states of many
-- streams are read and checked with set-based queries, and events find their
-- stream by a join, so a save of tens of thousands of streams takes linear
-- rather than quadratic time (subscripting a large array holding NULLs costs
-- time proportional to its length). A save of one stream keeps the single
-- index probe whose plan PL/pgSQL caches.
CREATE OR REPLACE FUNCTION {save}(
    lock_keys text[], stream_category text, stream_names text[],
    expected_last bigint[], any_state boolean[],
    event_streams integer[], event_offsets bigint[], event_ids uuid[], event_names text[],
    event_payloads text[], event_metadata text[],
    event_occurred_at timestamptz[], event_observed_at timestamptz[])
RETURNS TABLE (first_sequence_number bigint, last_positions bigint[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    found_last bigint[];
    first_number bigint;
BEGIN
    PERFORM {take_locks}(lock_keys);
    IF cardinality(stream_names) = 1 THEN
        found_last := ARRAY[(SELECT e.position
                               FROM {events} e
                              WHERE e.category = stream_category AND e.stream = stream_names[1]
                              ORDER BY e.position DESC
                              LIMIT 1)];
    ELSE
        SELECT array_agg(found.last ORDER BY requested.ordinal)
          INTO found_last
          FROM unnest(stream_names) WITH ORDINALITY AS requested(name, ordinal)
          LEFT JOIN LATERAL (SELECT e.position AS last
                               FROM {events} e
                              WHERE e.category = stream_category AND e.stream = requested.name
                              ORDER BY e.position DESC
                              LIMIT 1) found ON true;
    END IF;
    IF EXISTS (SELECT 1
                 FROM unnest(found_last, expected_last, any_state) AS state(found, expected, any_state)
                WHERE NOT state.any_state AND state.found IS DISTINCT FROM state.expected) THEN
        RETURN QUERY SELECT NULL::bigint, found_last;
        RETURN;
    END IF;
    first_number := {allocate}(cardinality(event_ids));
    INSERT INTO {events}
        (sequence_number, id, category, stream, position, name, payload, metadata, occurred_at, observed_at)
    SELECT first_number + e.ordinal - 1, e.id, stream_category, s.name,
           coalesce(s.last, -1) + 1 + e.stream_offset, e.name,
           e.payload::json, e.metadata::json, e.occurred_at, e.observed_at
      FROM unnest(event_streams, event_offsets, event_ids, event_names, event_payloads,
                  event_metadata, event_occurred_at, event_observed_at)
               WITH ORDINALITY AS e(stream_index, stream_offset, id, name, payload, metadata,
                                    occurred_at, observed_at, ordinal)
      JOIN unnest(stream_names, found_last) WITH ORDINALITY AS s(name, last, stream_index)
        ON s.stream_index = e.stream_index;
    RETURN QUERY SELECT first_number, found_last;
END
$$;
