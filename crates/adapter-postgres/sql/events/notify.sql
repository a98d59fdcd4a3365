-- Wakes the listeners of channel $1: new events may have been committed.
SELECT pg_notify($1, '')
