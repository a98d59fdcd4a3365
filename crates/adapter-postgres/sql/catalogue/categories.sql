-- Up to $3 categories from $1 (inclusive) below $2, one index probe each
-- (a loose index scan of the streams' primary key): the cost grows with the
-- categories returned, not with the streams stored.
WITH RECURSIVE found(category, n) AS (
    (SELECT s.category, 1::bigint
       FROM {streams} s
      WHERE s.category >= $1 AND s.category < $2
      ORDER BY s.category
      LIMIT 1)
    UNION ALL
    SELECT next.category, found.n + 1
      FROM found,
           LATERAL (SELECT s.category
                      FROM {streams} s
                     WHERE s.category > found.category AND s.category < $2
                     ORDER BY s.category
                     LIMIT 1) next
     WHERE found.n < $3::bigint
)
SELECT category FROM found ORDER BY category
