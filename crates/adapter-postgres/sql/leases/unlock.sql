-- Releases the session-level lock of a lease ($1, its key) on the session
-- that holds it.
SELECT pg_advisory_unlock(hashtextextended($1, 0))
