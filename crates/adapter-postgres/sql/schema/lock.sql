-- Serialises migrations of one schema ($1, its key) until the migrating
-- transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended($1, 0))
