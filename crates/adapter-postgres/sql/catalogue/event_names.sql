-- Up to $3 event names from $1 (inclusive) below $2.
SELECT name
  FROM {event_names}
 WHERE name >= $1 AND name < $2
 ORDER BY name
 LIMIT $3
