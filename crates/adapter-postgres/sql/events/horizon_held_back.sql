-- How long ago the oldest committed event above the settled sequence number
-- $1 (-1: none is settled) was observed: how long readers have been held
-- back from it, whoever may see the blocking session.
SELECT extract(epoch FROM now() - observed_at)::float8
  FROM {events}
 WHERE sequence_number > $1
 ORDER BY sequence_number
 LIMIT 1
