-- For each query check ($1 to $6, flat arrays: see the function), the first
-- event matching it.
SELECT {find_probing}($1::bigint[], $2::integer[], $3::integer[], $4::integer[], $5::text[],
                      $6::text[])
