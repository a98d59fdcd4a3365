-- Saves a projection, replacing the projection of its name and source
-- whatever its id (an id naming another source's projection violates the
-- primary key). Under a fence ($6 consumer, $7 partition, $8 token; all NULL
-- without one) only if no newer token is stored, in the same statement.
-- A token beyond 2^53 (Fence::MAX_TOKEN), which no lease hands out, is
-- admitted only if it is the stored one.
-- Returns whether the fence admitted the save.
WITH fence AS (
    INSERT INTO {fences} AS f (consumer, partition, token)
    SELECT $6::text, $7::bigint, $8::bigint
     WHERE $8::bigint <= (1::bigint << 53)
        OR EXISTS (SELECT FROM {fences} WHERE consumer = $6::text AND partition = $7::bigint)
    ON CONFLICT (consumer, partition) DO UPDATE SET token = EXCLUDED.token
     WHERE f.token <= EXCLUDED.token
       AND (EXCLUDED.token <= (1::bigint << 53) OR f.token = EXCLUDED.token)
    RETURNING token
), admitted AS (
    SELECT $8::bigint IS NULL OR EXISTS (SELECT FROM fence) AS admitted
), saved AS (
    INSERT INTO {projections} AS p (name, id, source, state, metadata)
    SELECT $1::text, $2::text, $3::jsonb, $4::jsonb, $5::jsonb
     WHERE (SELECT admitted FROM admitted)
    ON CONFLICT (name, source) DO UPDATE
       SET id = EXCLUDED.id, state = EXCLUDED.state, metadata = EXCLUDED.metadata
    RETURNING 1
)
SELECT (SELECT admitted FROM admitted), EXISTS (SELECT FROM saved)
