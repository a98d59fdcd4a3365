INSERT INTO {projections} (name, id, source, state, metadata)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name, id) DO UPDATE
   SET source = EXCLUDED.source, state = EXCLUDED.state, metadata = EXCLUDED.metadata
