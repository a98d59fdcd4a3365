SELECT first_sequence_number, last_positions, found, tracked
  FROM {save_with_tags}($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[],
                 $6::integer[], $7::bigint[], $8::uuid[], $9::text[], $10::text[],
                 $11::text[], $12::timestamptz[], $13::timestamptz[], $14::text[],
                 $15::bigint[], $16::integer[], $17::integer[], $18::integer[], $19::text[],
                 $20::text[], $21::boolean[], $22::text, $23::bigint)
