-- Up to $3 event names from $1 (inclusive) below $2, one index probe each
-- (a loose index scan, which also skips the duplicates two saves using a
-- new name at once may leave).
WITH RECURSIVE found(name, n) AS (
    (SELECT e.name, 1::bigint
       FROM {event_names} e
      WHERE e.name >= $1 AND e.name < $2
      ORDER BY e.name
      LIMIT 1)
    UNION ALL
    SELECT next.name, found.n + 1
      FROM found,
           LATERAL (SELECT e.name
                      FROM {event_names} e
                     WHERE e.name > found.name AND e.name < $2
                     ORDER BY e.name
                     LIMIT 1) next
     WHERE found.n < $3::bigint
)
SELECT name FROM found ORDER BY name
