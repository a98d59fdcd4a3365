-- Moves the checkpoint of $1 forwards to $2; under a fence ($3 consumer, $4
-- partition, $5 token; all NULL without one) only if no newer token is
-- stored, in the same statement. Returns whether the fence admitted the write
-- and whether the checkpoint moved.
-- A token beyond 2^53 (Fence::MAX_TOKEN), which no lease hands out, is
-- admitted only if it is the stored one.
WITH fence AS (
    INSERT INTO {fences} AS f (consumer, partition, token)
    SELECT $3::text, $4::bigint, $5::bigint
     WHERE $5::bigint <= (1::bigint << 53)
        OR EXISTS (SELECT FROM {fences} WHERE consumer = $3::text AND partition = $4::bigint)
    ON CONFLICT (consumer, partition) DO UPDATE SET token = EXCLUDED.token
     WHERE f.token <= EXCLUDED.token
       AND (EXCLUDED.token <= (1::bigint << 53) OR f.token = EXCLUDED.token)
    RETURNING token
), admitted AS (
    SELECT $5::bigint IS NULL OR EXISTS (SELECT FROM fence) AS admitted
), advanced AS (
    INSERT INTO {checkpoints} AS c (consumer, sequence_number)
    SELECT $1::text, $2::bigint WHERE (SELECT admitted FROM admitted)
    ON CONFLICT (consumer) DO UPDATE
       SET sequence_number = EXCLUDED.sequence_number, updated_at = now()
     WHERE c.sequence_number < EXCLUDED.sequence_number
    RETURNING 1
)
SELECT (SELECT admitted FROM admitted), EXISTS (SELECT FROM advanced)
