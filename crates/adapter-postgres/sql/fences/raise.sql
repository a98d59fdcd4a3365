-- A lease on ($1 consumer, $2 partition) was taken: its token becomes one
-- more than any before, which fences every earlier holder at once.
INSERT INTO {fences} AS f (consumer, partition, token)
VALUES ($1::text, $2::bigint, 1)
ON CONFLICT (consumer, partition) DO UPDATE SET token = f.token + 1
RETURNING token
