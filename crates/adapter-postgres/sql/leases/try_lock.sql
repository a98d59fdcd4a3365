-- Takes the session-level lock of a lease ($1, its key) if nobody holds it; it
-- lives as long as the lease's own connection.
SELECT pg_try_advisory_lock(hashtextextended($1, 0))
