-- Takes the session-level lock of a lease ($1, its key) if no other session
-- holds it; it lives until unlocked or the leases' shared session ends.
SELECT pg_try_advisory_lock(hashtextextended($1, 0))
