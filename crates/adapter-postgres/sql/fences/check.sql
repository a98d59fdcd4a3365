-- Admits a write under the fence ($1 consumer, $2 partition, $3 token) unless
-- a newer token is stored, making it the newest seen; a token beyond 2^53
-- (Fence::MAX_TOKEN), which no lease hands out, only if it is the stored one.
-- Returns a row only if admitted. Either way the fence row stays locked until
-- the transaction ends, so a takeover raising the token waits for a write
-- already admitted.
INSERT INTO {fences} AS f (consumer, partition, token)
SELECT $1::text, $2::bigint, $3::bigint
 WHERE $3::bigint <= (1::bigint << 53)
    OR EXISTS (SELECT FROM {fences} WHERE consumer = $1::text AND partition = $2::bigint)
ON CONFLICT (consumer, partition) DO UPDATE SET token = EXCLUDED.token
 WHERE f.token <= EXCLUDED.token
   AND (EXCLUDED.token <= (1::bigint << 53) OR f.token = EXCLUDED.token)
RETURNING token
