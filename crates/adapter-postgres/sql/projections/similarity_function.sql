-- Writes {similarity}(text, text), which searches sort by: pg_trgm's
-- similarity(), called in the schema the extension was installed in (a
-- one-expression SQL function, which the planner inlines), or, where it
-- cannot be used, a function that fails saying why. Runs at the end of every
-- migrate(), so a migration after pg_trgm was installed starts using it.
DO $similarity$
BEGIN
    IF {no_similarity}() IS NULL THEN
        EXECUTE format($function$
            CREATE OR REPLACE FUNCTION {similarity}(text, text)
            RETURNS real
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $body$ SELECT %I.similarity($1, $2) $body$
        $function$, (SELECT n.nspname
                       FROM pg_extension e
                       JOIN pg_namespace n ON n.oid = e.extnamespace
                      WHERE e.extname = 'pg_trgm'));
    ELSE
        CREATE OR REPLACE FUNCTION {similarity}(text, text)
        RETURNS real
        LANGUAGE plpgsql STABLE PARALLEL SAFE
        AS $body$
        BEGIN
            RAISE EXCEPTION USING
                ERRCODE = 'feature_not_supported',
                MESSAGE = coalesce({no_similarity}(),
                    'pg_trgm was installed after migrate() last ran: run migrate() again');
        END
        $body$;
    END IF;
END
$similarity$;
