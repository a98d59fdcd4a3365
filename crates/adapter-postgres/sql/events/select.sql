SELECT sequence_number, id, category, stream, position, name,
       payload::text, metadata::text, occurred_at, observed_at, tags
  FROM {events}
