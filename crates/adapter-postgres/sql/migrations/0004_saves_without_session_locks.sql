-- Saves without session-level locks, and of any width.
--
-- Until now the allocation function handed out numbers from a sequence inside
-- a critical section under a session-level advisory lock, to keep them in
-- transaction-id order. A cancel arriving just after the lock was granted could
-- leave it held by a pooled session, stalling every later save.
--
-- Now a transaction's events are numbered from its own transaction id:
--
--     sequence_number = base + transaction_id * 65536 + ordinal
--
-- where `ordinal` counts the events the transaction has written so far (kept in
-- a transaction-local setting, so it is rolled back with a savepoint). Numbers
-- are therefore in transaction-id order by construction, with no lock at all,
-- and a reader that returns only events of transactions older than its
-- snapshot's xmin still never returns an event while one with a smaller number
-- may commit. `base` lifts every new number above those the sequence handed out
-- before this migration; it is computed once, here.
--
-- Savers of an older build call the save function, which calls this one, so
-- they number their events the same way.
DO $migration$
DECLARE
    base bigint;
BEGIN
    SELECT greatest(0, coalesce(max(sequence_number), 0) + 1
                       - (pg_current_xact_id()::text::bigint << 16))
      INTO base
      FROM {events};
    EXECUTE format($function$
        CREATE OR REPLACE FUNCTION {allocate}(event_count bigint)
        RETURNS bigint
        LANGUAGE plpgsql AS $body$
        DECLARE
            used bigint := coalesce(nullif(current_setting('eventblocks.allocated', true), ''), '0')::bigint;
        BEGIN
            IF used + event_count > 65536 THEN
                RAISE EXCEPTION 'one transaction may write at most 65536 events'
                    USING ERRCODE = 'program_limit_exceeded';
            END IF;
            PERFORM set_config('eventblocks.allocated', (used + event_count)::text, true);
            RETURN %s + (pg_current_xact_id()::text::bigint << 16) + used;
        END
        $body$
    $function$, base);
END
$migration$;

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
    lock_key text;
    found_last bigint[];
    first_number bigint;
BEGIN
    FOREACH lock_key IN ARRAY lock_keys LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(lock_key, 0));
    END LOOP;
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
           e.payload::jsonb, e.metadata::jsonb, e.occurred_at, e.observed_at
      FROM unnest(event_streams, event_offsets, event_ids, event_names, event_payloads,
                  event_metadata, event_occurred_at, event_observed_at)
               WITH ORDINALITY AS e(stream_index, stream_offset, id, name, payload, metadata,
                                    occurred_at, observed_at, ordinal)
      JOIN unnest(stream_names, found_last) WITH ORDINALITY AS s(name, last, stream_index)
        ON s.stream_index = e.stream_index;
    RETURN QUERY SELECT first_number, found_last;
END
$$;
