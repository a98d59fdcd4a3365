SELECT first_sequence_number, last_positions
  FROM {save}($1::text[], $2::text, $3::text[], $4::bigint[], $5::boolean[], $6::integer[],
              $7::bigint[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::timestamptz[],
              $13::timestamptz[])
