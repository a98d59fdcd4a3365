-- Wakes the listeners of channel $1: new events may have been committed, up
-- to this WAL position, which subscriptions reading from replicas wait for
-- the replicas to replay.
SELECT pg_notify($1, pg_current_wal_insert_lsn()::text)
