SELECT stream, last_position FROM {lock_streams}($1::text[], $2::text, $3::text[])
