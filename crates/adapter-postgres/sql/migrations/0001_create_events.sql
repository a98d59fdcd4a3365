-- The event log: one row per event.
--
-- `transaction_id` records the writing transaction, so that log and category
-- scans can return only events of transactions older than every transaction
-- still running (see the allocation function below).
CREATE SEQUENCE IF NOT EXISTS {sequence} AS bigint;

CREATE TABLE IF NOT EXISTS {events} (
    sequence_number bigint      NOT NULL,
    id              uuid        NOT NULL,
    category        text        NOT NULL,
    stream          text        NOT NULL,
    position        bigint      NOT NULL CHECK (position >= 0),
    name            text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    observed_at     timestamptz NOT NULL,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT {primary_key} PRIMARY KEY (sequence_number),
    CONSTRAINT {id_key} UNIQUE (id),
    CONSTRAINT {position_key} UNIQUE (category, stream, position)
);

-- Category scans and the latest event of a category.
CREATE INDEX IF NOT EXISTS {category_index} ON {events} (category, sequence_number);

-- Log scans filtered by event name.
CREATE INDEX IF NOT EXISTS {name_index} ON {events} (name, sequence_number);

-- Takes the transaction-level locks a save needs, in the order given, then reads
-- the last position of each stream under them. Each statement of a volatile
-- function takes a fresh snapshot, so the read sees every save that held the
-- locks before.
CREATE OR REPLACE FUNCTION {lock_streams}(lock_keys text[], stream_category text, stream_names text[])
RETURNS TABLE (stream text, last_position bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    lock_key text;
BEGIN
    FOREACH lock_key IN ARRAY lock_keys LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(lock_key, 0));
    END LOOP;
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

-- Hands out `event_count` consecutive sequence numbers and returns the first.
--
-- The transaction id is assigned inside the same short critical section, so
-- sequence numbers are handed out in transaction-id order. A reader that only
-- returns events of transactions older than its snapshot's xmin therefore never
-- returns an event while one with a smaller sequence number may still commit.
-- The lock is a session lock released before the function returns (also on
-- error or cancellation), so it is never held across COMMIT.
CREATE OR REPLACE FUNCTION {allocate}(event_count bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    first_number bigint;
BEGIN
    PERFORM pg_advisory_lock(hashtextextended({allocate_lock_key}, 0));
    BEGIN
        PERFORM pg_current_xact_id();
        first_number := nextval({sequence_literal});
        IF event_count > 1 THEN
            PERFORM setval({sequence_literal}, first_number + event_count - 1);
        END IF;
    EXCEPTION WHEN OTHERS OR QUERY_CANCELED THEN
        PERFORM pg_advisory_unlock(hashtextextended({allocate_lock_key}, 0));
        RAISE;
    END;
    PERFORM pg_advisory_unlock(hashtextextended({allocate_lock_key}, 0));
    RETURN first_number;
END
$$;

-- A whole save in one statement, for the common case: takes the locks, reads
-- each stream's last position, and inserts only if every stream is in the
-- state the caller decided on (`expected_last`, unless `any_state`). The
-- caller decides with eventblocks' shared rules; this only checks that the
-- decision was made against the state found under the locks. Returns the first
-- sequence number (NULL when nothing was inserted) and the positions found.
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
    found_last bigint[] := ARRAY[]::bigint[];
    first_number bigint;
BEGIN
    FOREACH lock_key IN ARRAY lock_keys LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(lock_key, 0));
    END LOOP;
    -- One lookup per stream rather than one query over all of them: this
    -- statement's generic plan is as cheap as a custom one, so PL/pgSQL
    -- caches it instead of planning the query again on every call.
    FOR i IN 1 .. cardinality(stream_names) LOOP
        found_last[i] := (SELECT e.position
                            FROM {events} e
                           WHERE e.category = stream_category AND e.stream = stream_names[i]
                           ORDER BY e.position DESC
                           LIMIT 1);
    END LOOP;
    FOR i IN 1 .. cardinality(stream_names) LOOP
        IF NOT any_state[i] AND found_last[i] IS DISTINCT FROM expected_last[i] THEN
            RETURN QUERY SELECT NULL::bigint, found_last;
            RETURN;
        END IF;
    END LOOP;
    first_number := {allocate}(cardinality(event_ids));
    INSERT INTO {events}
        (sequence_number, id, category, stream, position, name, payload, metadata, occurred_at, observed_at)
    SELECT first_number + e.ordinal - 1, e.id, stream_category, stream_names[e.stream_index],
           coalesce(found_last[e.stream_index], -1) + 1 + e.stream_offset, e.name,
           e.payload::jsonb, e.metadata::jsonb, e.occurred_at, e.observed_at
      FROM unnest(event_streams, event_offsets, event_ids, event_names, event_payloads,
                  event_metadata, event_occurred_at, event_observed_at)
               WITH ORDINALITY AS e(stream_index, stream_offset, id, name, payload, metadata,
                                    occurred_at, observed_at, ordinal);
    RETURN QUERY SELECT first_number, found_last;
END
$$;
