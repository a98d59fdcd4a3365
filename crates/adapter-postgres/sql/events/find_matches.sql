-- For each query check ($1, see the function), an event matching it.
SELECT {find_matches}($1::jsonb)
