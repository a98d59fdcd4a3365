-- Up to $4 streams of category $1 from $2 (inclusive) below $3.
SELECT stream, last_position
  FROM {streams}
 WHERE category = $1 AND stream >= $2 AND stream < $3
 ORDER BY stream
 LIMIT $4
