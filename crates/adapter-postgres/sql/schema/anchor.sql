-- Keeps the numbering of new events above every number already handed out,
-- and every stored event visible to log and category scans, also after the
-- events moved to another cluster (a dump restored elsewhere, an upgrade by
-- dump), where transaction ids start again lower down. Runs at the end of
-- every `migrate()`; cheap when nothing moved (index probes only).
DO $anchor$
DECLARE
    current_xid bigint := pg_current_xact_id()::text::bigint;
    stored_base bigint;
    needed_base bigint;
BEGIN
    -- Events written by another cluster's transactions may carry ids this
    -- cluster has not reached; scans would take them for transactions still
    -- running, for ever. Their writers finished long ago: mark them as
    -- written by the oldest normal transaction id. Numbers follow
    -- transaction ids, so the newest event tells whether any needs it.
    IF EXISTS (SELECT FROM (SELECT transaction_id FROM {events}
                             ORDER BY sequence_number DESC LIMIT 1) newest
                WHERE newest.transaction_id >= pg_current_xact_id()) THEN
        UPDATE {events} SET transaction_id = '3' WHERE transaction_id >= pg_current_xact_id();
    END IF;
    SELECT max(base) INTO stored_base FROM {allocation};
    -- New numbers must exceed those stored and those the old sequence handed
    -- to saves that may still commit.
    SELECT greatest(0, greatest(coalesce(max(e.sequence_number), 0),
                                (SELECT last_value FROM {sequence})) + 1 - (current_xid << 16))
      INTO needed_base
      FROM {events} e;
    IF stored_base IS NOT NULL AND stored_base >= needed_base
       AND to_regprocedure('{sequence_base}()') IS NOT NULL THEN
        RETURN;
    END IF;
    -- The base only ever grows: lowering it could number a later transaction
    -- below an earlier one still running.
    needed_base := greatest(needed_base, coalesce(stored_base, 0));
    DELETE FROM {allocation};
    INSERT INTO {allocation} (base) VALUES (needed_base);
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
    $function$, needed_base);
    -- The base, for query reads computing their frontier: a constant function
    -- rather than a read of `{allocation}`, so a runtime role needs no grant on
    -- it.
    EXECUTE format($function$
        CREATE OR REPLACE FUNCTION {sequence_base}()
        RETURNS bigint
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $body$ SELECT %s::bigint $body$
    $function$, needed_base);
END
$anchor$;
