-- Admits a write under the fence ($1 consumer, $2 partition, $3 token) unless
-- a newer token is stored, making it the newest seen. Returns a row only if
-- admitted. Either way the fence row stays locked until the transaction ends,
-- so a takeover raising the token waits for a write already admitted.
INSERT INTO {fences} AS f (consumer, partition, token)
VALUES ($1::text, $2::bigint, $3::bigint)
ON CONFLICT (consumer, partition) DO UPDATE SET token = EXCLUDED.token
 WHERE f.token <= EXCLUDED.token
RETURNING token
