-- Every stored event with one of the ids $1, of any stream: what a save
-- needs to recognise an idempotent retry.
SELECT sequence_number, id, category, stream, position, name,
       payload::text, metadata::text, occurred_at, observed_at, tags
  FROM {events}
 WHERE id = ANY($1::uuid[])
