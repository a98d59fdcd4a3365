-- Sorting projections by similarity calls pg_trgm's similarity(). This says
-- why that cannot be done in this database, or gives NULL when it can: the
-- extension is missing, or the database's LC_CTYPE is C or POSIX (where
-- pg_trgm takes every letter beyond ASCII for a separator, and would order
-- otherwise than the other projection stores), or its encoding is not UTF8.
-- migrate() asks it whether to call pg_trgm; a search that cannot is told
-- the reason (see projections/similarity_function.sql).
CREATE OR REPLACE FUNCTION {no_similarity}()
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $body$
    SELECT CASE
        WHEN NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm') THEN
            'sorting projections by similarity needs the pg_trgm extension, which '
            'is not installed in database ' || quote_ident(current_database())
            || ': have its owner or a superuser run CREATE EXTENSION pg_trgm (a '
            'trusted extension: a role with CREATE on the database may), then '
            'run migrate() again'
        WHEN (SELECT datctype IN ('C', 'POSIX')
                  OR encoding <> pg_char_to_encoding('UTF8')
                FROM pg_database WHERE datname = current_database()) THEN
            'sorting projections by similarity needs a UTF8 database whose '
            'LC_CTYPE classifies letters beyond ASCII (C.UTF-8, en_US.UTF-8, '
            '...); in database ' || quote_ident(current_database())
            || ' pg_trgm would take them for separators and order otherwise '
            'than the other projection stores'
    END
$body$;
