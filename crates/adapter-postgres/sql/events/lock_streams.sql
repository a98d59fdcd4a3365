-- Takes a save's locks ($1) and reads the last position and event id of each
-- stream ($2 categories, $3 names) under them.
SELECT last_positions, last_ids FROM {lock_states}($1::text[], $2::text[], $3::text[])
